"""Turns a C2PA manifest store (c2pa's JSON and validation state) into what a person needs: a status and claims.

Django-free. Statuses: ``valid`` (signature intact, signer on the trust list), ``untrusted`` (intact, signer
not on the list), ``invalid`` (the file or the manifest changed after signing, or the signature fails),
``unreadable`` (a manifest is there but cannot be parsed), ``none`` (no manifest), ``not_checked`` (too
large, too slow or too hungry to read: nothing is known).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .c2pa_reader import StoreAnswer
from .labels import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, SOURCE_TYPES, source_type_key

VALID, UNTRUSTED, INVALID, UNREADABLE, NONE, NOT_CHECKED = (
    "valid", "untrusted", "invalid", "unreadable", "none", "not_checked")

# Failure codes (C2PA 2.x validation codes) and what they mean in words, most telling first.
FAILURE_WORDS = (
    ("dataHash.mismatch", "the file was changed after signing"),
    ("bmffHash.mismatch", "the file was changed after signing"),
    ("boxesHash.mismatch", "the file was changed after signing"),
    ("collectionHash.mismatch", "the file was changed after signing"),
    ("hashedURI.mismatch", "the manifest was altered after signing"),
    ("hashedURI.missing", "the manifest was altered after signing"),
    ("claimSignature.mismatch", "the signature does not match the claim"),
    ("claimSignature.missing", "the manifest has no signature"),
    ("claimSignature.outsideValidity", "the signing certificate had expired or was not yet valid"),
    ("signingCredential.revoked", "the signing certificate was revoked"),
    ("signingCredential.expired", "the signing certificate had expired"),
    ("signingCredential.invalid", "the signing certificate is not valid for signing"),
    ("claim.malformed", "the claim is malformed"),
    ("manifest.", "the manifest is malformed"),
)
UNTRUSTED_CODE = "signingCredential.untrusted"
MAX_LIST = 20  # actions and ingredients kept


@dataclass
class C2paSummary:
    status: str
    detail: str = ""  # why invalid, unreadable or not checked, in words
    signer: str = ""
    signed_at: str = ""
    claim_generator: str = ""
    digital_source_type: str = ""  # the short IPTC key of the creating action, e.g. trainedAlgorithmicMedia
    says: str = ""  # what the manifest says about how the file was made, in words
    ai_generated: bool = False  # the manifest says (part of) it was made with an AI tool
    actions: list[dict] = field(default_factory=list)
    ingredients: list[dict] = field(default_factory=list)
    validation_codes: list[str] = field(default_factory=list)  # failure codes

    def as_dict(self) -> dict:
        return asdict(self)


def _failures(store: dict) -> list[str]:
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    codes = [item.get("code", "") for item in results.get("failure") or []]
    codes += [item.get("code", "") for item in store.get("validation_status") or []]
    return list(dict.fromkeys(code for code in codes if isinstance(code, str) and code))


def _generator(manifest: dict) -> str:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name, version = str(info[0].get("name") or ""), str(info[0].get("version") or "")
        return f"{name} {version}".strip()[:200]
    return str(manifest.get("claim_generator") or "")[:200]


def _actions(manifest: dict) -> list[dict]:
    actions = []
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict) or not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            if not isinstance(action, dict):
                continue
            agent = action.get("softwareAgent")
            agent = agent.get("name", "") if isinstance(agent, dict) else (agent or "")
            actions.append({
                "action": str(action.get("action") or "")[:100],
                "digital_source_type": source_type_key(str(action.get("digitalSourceType") or "")),
                "software_agent": str(agent)[:200],
            })
    return actions[:MAX_LIST]


def _ingredients(manifest: dict) -> list[dict]:
    return [{"title": str(i.get("title") or "")[:200], "format": str(i.get("format") or "")[:100],
             "relationship": str(i.get("relationship") or "")[:50]}
            for i in (manifest.get("ingredients") or [])[:MAX_LIST] if isinstance(i, dict)]


def says_in_words(actions: list[dict], ingredients: list[dict]) -> tuple[str, str]:
    """(source type key, words) for what the actions claim: made with AI, captured, edited."""
    for action in actions:
        key = action["digital_source_type"]
        if key:
            words = SOURCE_TYPES[key]
            if key in CAPTURE_SOURCE_TYPES:
                edited = [a for a in actions if a["action"] not in ("c2pa.created", "c2pa.opened")]
                words += ", with recorded edits" if edited else ", no edits recorded"
            return key, words
    if any(a["action"] == "c2pa.created" for a in actions):
        return "", "created by the signing tool"
    if ingredients or actions:
        return "", "edited from " + (f"{len(ingredients)} earlier file{'s' if len(ingredients) != 1 else ''}"
                                     if ingredients else "an earlier file")
    return "", ""


def summarise(answer: StoreAnswer) -> C2paSummary:
    """The status and claims of one reader's answer."""
    if answer.found is None:
        return C2paSummary(NOT_CHECKED, detail=_error_words(answer.error))
    if not answer.found:
        return C2paSummary(NONE)
    if answer.error or not answer.store:
        return C2paSummary(UNREADABLE, detail="it cannot be parsed, so nothing in it can be relied on")
    try:
        store = json.loads(answer.store)
        manifest = (store.get("manifests") or {}).get(store.get("active_manifest")) or {}
    except (ValueError, AttributeError):
        return C2paSummary(UNREADABLE, detail="it cannot be parsed, so nothing in it can be relied on")
    signature = manifest.get("signature_info") or {}
    actions, ingredients = _actions(manifest), _ingredients(manifest)
    key, says = says_in_words(actions, ingredients)
    failures = _failures(store)
    summary = C2paSummary(
        status=VALID,
        signer=str(signature.get("issuer") or signature.get("common_name") or "")[:200],
        signed_at=str(signature.get("time") or "")[:40],
        claim_generator=_generator(manifest),
        digital_source_type=key,
        says=says,
        ai_generated=key in AI_SOURCE_TYPES,
        actions=actions,
        ingredients=ingredients,
        validation_codes=failures[:MAX_LIST],
    )
    serious = [code for code in failures if code != UNTRUSTED_CODE]
    if answer.state == "Invalid" or serious:
        summary.status = INVALID
        summary.detail = next((words for code, words in FAILURE_WORDS if any(code in f for f in serious)),
                              "the manifest does not validate")
    elif answer.state != "Trusted":
        summary.status = UNTRUSTED
        summary.detail = "the signer is not on this portal's trust list"
    if not manifest:
        summary.status, summary.detail = UNREADABLE, "the manifest store has no active manifest"
    return summary


def _error_words(error: str | None) -> str:
    kind, _, rest = (error or "").partition(": ")
    if kind in ("Timeout", "Limit", "TooLarge"):
        return rest
    return "the reader failed"
