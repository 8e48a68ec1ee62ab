"""Reads C2PA manifest stores with c2pa-python in a process of its own (``python -m provenance.c2pa_child``).

Django-free. The parent (provenance.c2pa_reader) starts it once, under a memory limit, and sends one JSON
request per line on stdin: ``{"path", "mime", "anchors", "allowed", "max_json"}``; it answers one JSON line:
``{"found", "state", "store", "truncated", "error"}``. A hostile manifest can make the native reader slow or
hungry; the parent then kills this process and starts another, and the worker itself is never at risk.
Nothing is fetched over the network: remote manifests and OCSP are off, trust lists come from files.
"""
from __future__ import annotations

import json
import os
import resource
import sys


def _pem(path: str) -> tuple[str, float]:
    if not path:
        return "", 0.0
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(), os.path.getmtime(path)
    except OSError:
        return "", 0.0


class _Contexts:
    """One c2pa Context per trust configuration, rebuilt when a trust file changes."""

    def __init__(self):
        self.key = None
        self.context = None

    def get(self, anchors_path: str, allowed_path: str):
        import c2pa

        anchors, anchors_mtime = _pem(anchors_path)
        allowed, allowed_mtime = _pem(allowed_path)
        key = (anchors_path, anchors_mtime, allowed_path, allowed_mtime)
        if key != self.key:
            trust = {}
            if anchors.strip():
                trust["trust_anchors"] = anchors
            if allowed.strip():
                trust["allowed_list"] = allowed
            settings = c2pa.Settings.from_dict({
                "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False},
                "trust": trust,
            })
            self.context, self.key = c2pa.Context(settings), key
        return self.context


def read_store(request: dict, contexts: _Contexts) -> dict:
    """The manifest store of one file as JSON text (None when there is none), and its validation state."""
    import c2pa

    answer = {"found": False, "state": None, "store": None, "truncated": False, "error": None}
    try:
        context = contexts.get(request.get("anchors", ""), request.get("allowed", ""))
        with open(request["path"], "rb") as fh:
            reader = c2pa.Reader.try_create(request.get("mime") or None, fh, None, context)
            if reader is None:
                return answer
            with reader:
                answer["found"] = True
                answer["state"] = reader.get_validation_state()
                store = reader.json()
    except c2pa.C2paError as exc:
        # A manifest that is there but cannot be parsed; "not supported" is a format c2pa does not read.
        kind = type(exc).__name__.lstrip("_").replace("C2pa", "")
        answer["error"] = f"{kind}: {str(exc)[:300]}"
        answer["found"] = kind != "NotSupported"
        return answer
    if len(store) > int(request.get("max_json", 1 << 20)):
        answer["truncated"] = True
        # Keep what a summary needs: the active manifest's label and the validation results.
        parsed = json.loads(store)
        active = parsed.get("active_manifest")
        manifest = (parsed.get("manifests") or {}).get(active) or {}
        slim = {key: manifest.get(key) for key in ("claim_generator", "claim_generator_info", "signature_info",
                                                    "title", "label")}
        store = json.dumps({"active_manifest": active, "manifests": {active: slim} if active else {},
                            "validation_status": (parsed.get("validation_status") or [])[:50],
                            "validation_state": parsed.get("validation_state")})
    answer["store"] = store
    return answer


def main() -> None:
    if "--memory-mb" in sys.argv:  # before the native library is loaded: it counts too
        memory = int(sys.argv[sys.argv.index("--memory-mb") + 1]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # Answers go to the original stdout; anything the native library prints goes to stderr.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    import c2pa  # noqa: F401 - loaded before the first request: a library that cannot load ends this process
    contexts = _Contexts()
    for line in sys.stdin:
        try:
            answer = read_store(json.loads(line), contexts)
        except Exception as exc:  # noqa: BLE001 - one bad file must not end this process; nothing is known
            answer = {"found": None, "state": None, "store": None, "truncated": False,
                      "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
