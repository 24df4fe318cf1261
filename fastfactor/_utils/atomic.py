"""Write files so that a crash or a kill never leaves a half-written one."""
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


class OutputExistsError(FileExistsError):
    """The output exists and overwriting was not allowed."""


def check_writable(path, force=False):
    """Fail early (before any work) when ``path`` cannot or must not be written."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force (force=True) to overwrite it")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"cannot write {path}: folder {parent} is not writable")


@contextmanager
def atomic_path(path, force=True):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The temporary file is in the same folder (so the rename is atomic) and is
    removed if the block raises.
    """
    path = Path(path)
    check_writable(path, force=force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix,
                               dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    # mkstemp makes the file private (0600); give the result the usual
    # permissions of a new file under the user's umask
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:  # data on disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
