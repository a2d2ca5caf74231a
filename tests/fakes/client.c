/* The fake kubectl/helm the plugin starts when a C compiler is there (tests/fakes/zygote.py says why).
 *
 * It is the interpreter of a two-line script on PATH:   #!<this binary> <prog> <socket>
 * so argv is  [client, "<prog> <socket>", <script path>, args...]  and the fake sees the script path as
 * its argv[0], exactly as under the Python shim. The client hands its stdin/stdout/stderr (SCM_RIGHTS),
 * argv, environment, cwd, umask and ignored signals to the zygote, which forks the fake with them;
 * it forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the fake and ends as the fake ended: the same exit code,
 * or killed by the same signal. If the client dies, the zygote sees EOF and SIGKILLs the fake.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

extern char **environ;

static int sock = -1;
static const int FORWARDED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NFORWARDED (sizeof FORWARDED / sizeof FORWARDED[0])

static void die(const char *what) {
    fprintf(stderr, "fake client: %s: %s\n", what, strerror(errno));
    _exit(1);
}

static void forward(int sig) {
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    (void)!write(sock, &b, 1); /* the zygote signals the fake; async-signal-safe */
    errno = saved;
}

/* the request: NUL-terminated strings appended to a growing buffer */
static char *buf;
static size_t len, cap;

static void put(const char *s, size_t n) {
    if (len + n + 1 > cap) {
        cap = (len + n + 1) * 2;
        if (!(buf = realloc(buf, cap))) die("realloc");
    }
    memcpy(buf + len, s, n);
    buf[len + n] = '\0';
    len += n + 1;
}

static void puts0(const char *s) { put(s, strlen(s)); }

static void putnum(long v) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%ld", v);
    puts0(tmp);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "fake client: run me as a script's interpreter (#!client prog socket)\n");
        return 2;
    }
    char *spec = argv[1];
    char *space = strchr(spec, ' ');
    if (!space) {
        fprintf(stderr, "fake client: expected '<prog> <socket>', got '%s'\n", spec);
        return 2;
    }
    const char *path = space + 1;

    /* a closed standard fd is passed as /dev/null (SCM_RIGHTS needs real fds) */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd) die("/dev/null");

    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) die("getcwd");
    mode_t mask = umask(0);
    umask(mask);

    /* prog, cwd, umask, ignored signals, argc, argv (script path first), then the environment */
    put(spec, (size_t)(space - spec));
    puts0(cwd);
    putnum((long)mask);
    char ignored[256] = "";
    for (int sig = 1; sig < 32; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
            size_t n = strlen(ignored);
            snprintf(ignored + n, sizeof ignored - n, "%s%d", n ? "," : "", sig);
        }
    }
    puts0(ignored);
    putnum(argc - 2);
    for (int i = 2; i < argc; i++) puts0(argv[i]);
    for (char **e = environ; *e; e++) puts0(*e);

    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) die("socket");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "fake client: socket path too long: %s\n", path);
        return 1;
    }
    strcpy(addr.sun_path, path);
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) die(path);

    /* forwarders installed but held back while the request goes out (a signal byte must not land
       inside it); one that came meanwhile is forwarded on unblocking, and the zygote applies it once
       the fake exists */
    sigset_t held, before;
    sigemptyset(&held);
    for (size_t i = 0; i < NFORWARDED; i++) sigaddset(&held, FORWARDED[i]);
    sigprocmask(SIG_BLOCK, &held, &before);
    for (size_t i = 0; i < NFORWARDED; i++) {
        struct sigaction sa;
        sigaction(FORWARDED[i], NULL, &sa);
        if (sa.sa_handler == SIG_IGN) continue; /* ignored here: the fake ignores it too */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = forward;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(FORWARDED[i], &sa, NULL);
    }

    /* header (payload length) + payload in the message that carries the fds */
    unsigned long long n = len;
    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec iov[2] = {{&n, sizeof n}, {buf, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = control,
                         .msg_controllen = sizeof control};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    ssize_t sent;
    while ((sent = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    if (sent < 0) die("sendmsg");
    size_t total = sizeof n + len, done = (size_t)sent;
    while (done < total) { /* a long argv or environment: the rest without fds */
        size_t off = done < sizeof n ? 0 : done - sizeof n;
        const char *p = done < sizeof n ? (const char *)&n + done : buf + off;
        size_t left = done < sizeof n ? sizeof n - done : len - off;
        ssize_t w = send(sock, p, left, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) die("send");
        done += (size_t)w;
    }
    sigprocmask(SIG_SETMASK, &before, NULL);

    /* the answer: "exit N\n" or "signal N\n" */
    char reply[64];
    size_t got = 0;
    while (got < sizeof reply - 1) {
        ssize_t r = read(sock, reply + got, sizeof reply - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            fprintf(stderr, "fake client: the zygote went away before the fake ended\n");
            return 1;
        }
        got += (size_t)r;
        if (memchr(reply, '\n', got)) break;
    }
    reply[got] = '\0';
    int value;
    if (sscanf(reply, "exit %d", &value) == 1) return value;
    if (sscanf(reply, "signal %d", &value) == 1) {
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none); /* die of it like the fake did, without a core file */
        signal(value, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, value);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(value);
        return 128 + value;
    }
    fprintf(stderr, "fake client: unexpected answer from the zygote: %s\n", reply);
    return 1;
}
