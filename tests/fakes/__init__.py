"""Fake `kubectl` and `helm` executables for the command tests (STYLE.md idiom 8).

`state.py` holds the shared, file-backed world (objects, releases, failure rules, the call log);
`fake_kubectl.py` and `fake_helm.py` are run as real processes by the plugin; `fixture.py` installs
them on PATH for one test. Each call is a child process the plugin starts: the compiled `client.c`,
whose fake is forked by the worker's `zygote.py` (no interpreter start-up per call), or, without a C
compiler or with FAKE_ZYGOTE=0, a fresh `python -IS` shim.
"""
