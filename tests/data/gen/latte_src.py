"""How the Latte fixture generators find the official Latte code (never copied into this repo):
the --latte-src PATH flag, else the LATTE_SRC environment variable; PATH is a checkout or a
`git archive` of Vchitect/Latte (the directory holding models/ and diffusion/). See README."""
import importlib.util
import os
import sys

HELP = "official Latte checkout (the directory holding models/ and diffusion/; default: $LATTE_SRC)"


def add_argument(ap):
    ap.add_argument("--latte-src", default=os.environ.get("LATTE_SRC"), help=HELP)


def use(path):
    """Checks the path and puts it first on sys.path; returns it as an absolute path."""
    if not path or not os.path.isfile(os.path.join(path, "models", "latte.py")) or \
            not os.path.isdir(os.path.join(path, "diffusion")):
        sys.exit("give the official Latte code with --latte-src PATH or LATTE_SRC=PATH "
                 "(the directory holding models/ and diffusion/), e.g. "
                 "git -C Latte archive HEAD | tar -x -C /tmp/latte-src")
    path = os.path.abspath(path)
    sys.path.insert(0, path)
    return path


def load_latte_module(path):
    """models/latte.py loaded on its own: Latte's models/__init__.py also imports latte_t2v (diffusers),
    which the class-conditional / unconditional Latte does not need."""
    spec = importlib.util.spec_from_file_location("latte_official", os.path.join(path, "models", "latte.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def commit(path):
    """Short sha of the Latte code: $LATTE_COMMIT, else `git rev-parse` in path, else 'unknown'."""
    if os.environ.get("LATTE_COMMIT"):
        return os.environ["LATTE_COMMIT"]
    import subprocess
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "--short=7", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
