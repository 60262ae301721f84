"""Python code for a subprocess in which some modules cannot be imported, as on a machine where
they are not installed (the lent GPU machine's python has torch but no dlib).

:func:`without_modules` prefixes a program with a finder on ``sys.meta_path`` that refuses the
named top-level modules (and their submodules) the way a missing package does
(``ModuleNotFoundError``), whoever imports them and however (``import``, ``importlib``).
"""

from __future__ import annotations

from collections.abc import Sequence

#: dlib's two top-level modules (dlib-bin installs the package ``dlib`` and its extension).
DLIB = ("dlib", "_dlib_pybind11")

BLOCKER = """
import sys as _sys


class _NotInstalled:
    \"\"\"Refuses {blocked!r} (and their submodules) as if they were not installed.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by the test)", name=name)
        return None


for _name in list(_sys.modules):
    if _name.split(".")[0] in {blocked!r}:
        del _sys.modules[_name]
_sys.meta_path.insert(0, _NotInstalled())
"""


def without_modules(program: str, blocked: Sequence[str] = DLIB) -> str:
    """``program`` (Python source, for ``python -c``) run where ``blocked`` cannot be imported."""
    return BLOCKER.format(blocked=tuple(blocked)) + "\n" + program
