"""How the panel reads, writes and trusts files on disk: `regular` opens a file itself
(never through a link, never waiting on a FIFO), `atomic` replaces one so a crash leaves
the old or the new content, `trust` decides which files and folders only the user and
root can change (one rule for the config, the command, the pidfile, the log and the
lock), `owners` names the users and groups that own them. Standard library only: the
plugin inside beat uses `regular` and `atomic`."""
