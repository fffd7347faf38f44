"""Files the tools write into a site belong to the site's service user, whoever runs them.

An installer runs `perimeter operator add` or `perimeter node deploy` as root; the broker and
the gateway run as `perimeter` (`site init`). A file written by root, 600, would then be
unreadable to the daemons that need it: so, as root, each file the tool wrote is given the
owner of the folder it is in (which `site init` gave to the service user), mode 600."""

import os
from pathlib import Path


def keep_owner(*paths: Path) -> None:
    if os.geteuid() != 0:
        return  # a user writes files as itself, into folders that are its own
    for path in paths:
        if path.exists():
            folder = path.parent.stat()
            os.chown(path, folder.st_uid, folder.st_gid)
            path.chmod(0o600)
