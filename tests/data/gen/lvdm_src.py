"""How every fixture generator here finds the official LVDM code (never copied into this repo):
the --lvdm-src PATH flag, else the LVDM_SRC environment variable; PATH is a checkout or a
`git archive` of YingqingHe/LVDM (the directory holding lvdm/ and scripts/). See README."""
import os
import sys

HELP = "official LVDM checkout (the directory holding lvdm/; default: $LVDM_SRC)"


def add_argument(ap):
    ap.add_argument("--lvdm-src", default=os.environ.get("LVDM_SRC"), help=HELP)


def use(path):
    """Checks the path and puts it first on sys.path; returns it as an absolute path."""
    if not path or not os.path.isdir(os.path.join(path, "lvdm")):
        sys.exit("give the official LVDM code with --lvdm-src PATH or LVDM_SRC=PATH "
                 "(the directory holding lvdm/), e.g. git -C LVDM archive d251dcc | tar -x -C /tmp/lvdm-src")
    path = os.path.abspath(path)
    sys.path.insert(0, path)
    return path
