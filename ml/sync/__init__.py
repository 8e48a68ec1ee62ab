"""Audio-visual sync: does the mouth move with the speech? ``SyncChecker().check(path) -> SyncResult``."""
from ml.sync.checker import SyncChecker
from ml.sync.result import SyncResult

__all__ = ["SyncChecker", "SyncResult"]
