"""One plain function per command, called by the cli_* click wiring with plain values.

config builds the `Config` every command gets; read (revisions, history, status), planning (plan,
render), roll (rollback) and recovery (abort, backup, restore) hold the commands; common holds
what several of them say or ask. Nothing here imports click's option machinery or the cli modules.
"""
