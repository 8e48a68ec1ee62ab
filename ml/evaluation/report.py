"""The evaluation's Markdown report (``eval.md``): the issue's targets, the own test split, dev and
both robustness tables, from ``ml.evaluation.evaluate``'s report dict."""
from __future__ import annotations

from pathlib import Path


def _m(d: dict | None, key="roc_auc"):
    return "n/a" if not d or d.get(key) is None else f"{d[key]:.3f}"


def markdown(card: dict, report: dict) -> str:
    """The report as Markdown (the model card embeds it under its own heading)."""
    lines = [f"# Evaluation of `{card['version']}`", "",
             f"Threshold {card['threshold']}; video score = clip rule `{card.get('clip_rule', 'lstm')}`, image score = its frame probability (as `ml.inference.predictor` scores).", ""]
    own, dev = report.get("own"), report.get("dev")
    lines += ["## Issue targets", "", "| target | measured | met |", "|---|---|---|"]
    def target(name, value, ok):
        lines.append(f"| {name} | {'n/a' if value is None else value} | {'n/a' if value is None else ('yes' if ok(value) else 'no')} |")
    if own:
        target("own pseudo-fake test ROC AUC >= 0.98 (clean frames)", own["frames_clean"]["roc_auc"], lambda v: v >= 0.98)
        target("own pseudo-fake test ROC AUC >= 0.98 (video clips, shipped rule)", own["clips"]["video"]["shipped"]["roc_auc"], lambda v: v >= 0.98)
        rob = own.get("robustness", {}).get("h264_crf35", {})
        target("own test AUC drop at H.264 CRF 35 <= 0.05 (video clips)", rob.get("drop_clip_auc_shipped"), lambda v: v <= 0.05)
    if dev:
        target("dev video AUC >= 0.85", (dev.get("video_score") or {}).get("roc_auc"), lambda v: v >= 0.85)
        target("dev image AUC >= 0.85", (dev.get("image_score") or {}).get("roc_auc"), lambda v: v >= 0.85)
        rob = dev.get("robustness", {}).get("h264_crf35", {})
        target("dev video AUC drop at H.264 CRF 35 <= 0.05", rob.get("drop_video_auc"), lambda v: v <= 0.05)
    lines.append("")
    if own:
        lines += ["## Own test split (held-out identities, pseudo-fakes)", "",
                  "| set | n | AUC | accuracy | precision | recall | F1 | ECE |", "|---|---|---|---|---|---|---|---|"]
        for name, m in [("frames, clean", own["frames_clean"]), ("frames, training degradations", own["frames_train_degradations"]),
                        (f"video clips, shipped rule ({card.get('clip_rule')})", own["clips"]["video"]["shipped"]),
                        ("video clips, LSTM", own["clips"]["video"]["lstm"]), ("video clips, mean of frames", own["clips"]["video"]["mean"]),
                        ("images (frame probability, shipped)", own["clips"]["image"]["shipped"])]:
            lines.append(f"| {name} | {m['n']} | {_m(m)} | {_m(m, 'accuracy')} | {_m(m, 'precision')} | {_m(m, 'recall')} | {_m(m, 'f1')} | {_m(m, 'ece')} |")
        lines += ["", "Per method (clean frames; fakes: AUC against all real crops; reals: mean score):", "",
                  "| method | n | mean score | AUC vs real |", "|---|---|---|---|"]
        for k, v in own["frames_clean"]["by_method"].items():
            lines.append(f"| {k} | {v['n']} | {v['mean_score']:.3f} | {v.get('auc_vs_all_real', '')} |")
        c = own["frames_clean"]["confusion"]
        lines += ["", f"Confusion (clean frames, threshold {card['threshold']}): TN {c['tn']}, FP {c['fp']}, FN {c['fn']}, TP {c['tp']}", ""]
        if own.get("robustness"):
            lines += ["### Robustness (own test video clips; the condition applied to the crop sequence, H.264 = real libx264 encode)", "",
                      "| condition | clip AUC (shipped rule) | drop | clip accuracy | clip AUC (LSTM) | clip AUC (mean) | frame AUC | drop |",
                      "|---|---|---|---|---|---|---|---|"]
            for cond, r in own["robustness"].items():
                lines.append(f"| {cond} | {r['clip_auc_shipped']} | {r.get('drop_clip_auc_shipped', '')} | {r['clip_accuracy_shipped']} | "
                             f"{r['clip_auc_lstm']} | {r['clip_auc_mean']} | {r['frame_auc']} | {r.get('drop_frame_auc', '')} |")
            lines.append("")
    if dev:
        lines += ["## Dev (`data/dev`: media nobody here made; full inference path)", "",
                  "| set | rule | n | no face | AUC | accuracy | precision | recall | F1 | ECE |", "|---|---|---|---|---|---|---|---|---|---|"]
        for kind in ("video", "image"):
            for rule in ("score", "lstm", "mean"):
                m = dev.get(f"{kind}_{rule}")
                if m:
                    name = f"shipped ({card.get('clip_rule') if kind == 'video' else 'frame probability'})" if rule == "score" else rule
                    lines.append(f"| {kind}s | {name} | {m['n']} | {m['counts']['no_face']} | {_m(m)} | {_m(m, 'accuracy')} | "
                                 f"{_m(m, 'precision')} | {_m(m, 'recall')} | {_m(m, 'f1')} | {_m(m, 'ece')} |")
        for kind in ("video", "image"):
            m = dev.get(f"{kind}_score")
            if m:
                c = m["confusion"]
                lines += ["", f"{kind}s (shipped score) confusion: TN {c['tn']}, FP {c['fp']}, FN {c['fn']}, TP {c['tp']}", "",
                          f"| {kind} method | n | mean score | AUC vs all real {kind}s |", "|---|---|---|---|"]
                for k, v in m["by_method"].items():
                    lines.append(f"| {k} | {v['n']} | {v['mean_score']:.3f} | {v.get('auc_vs_all_real', '')} |")
        if dev.get("robustness"):
            lines += ["", "### Robustness (dev; H.264 = the file re-encoded with libx264 veryfast; others applied to the sampled frames; face tracks from the clean media reused)", "",
                      "| condition | video AUC | drop | video accuracy | video AUC (LSTM) | video AUC (mean) | image AUC | drop | image accuracy | no face (videos/images) |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for cond, r in dev["robustness"].items():
                lines.append(f"| {cond} | {r.get('video_auc')} | {r.get('drop_video_auc', '')} | {r.get('video_accuracy')} | {r.get('video_auc_lstm')} | "
                             f"{r.get('video_auc_mean')} | {r.get('image_auc')} | {r.get('drop_image_auc', '')} | {r.get('image_accuracy')} | "
                             f"{r['video_counts']['no_face']}/{r['image_counts']['no_face']} |")
        lines += ["", "Per video (clean):", "", "| video | label | method | shipped score | LSTM | mean of frames |", "|---|---|---|---|---|---|"]
        for r in dev["items"]:
            if r["kind"] == "video":
                ok = r["status"] == "ok"
                lines.append(f"| {Path(r['path']).name} | {r['label']} | {r['method']} | {round(r['score'], 3) if ok else r['status']} | "
                             f"{round(r['lstm'], 3) if ok else ''} | {round(r['mean'], 3) if ok else ''} |")
    return "\n".join(lines) + "\n"
