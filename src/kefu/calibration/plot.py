"""The picture `kefu tune --plot` writes: how much each setting answers against how often
it is likely wrong."""

from __future__ import annotations

import io

from kefu.calibration.tune import Tuning


def tuning_plot(result: Tuning) -> bytes:
    """PNG: questions answered against confidently wrong answers, one line per faq
    threshold at the chosen margin weight, with the current and the chosen settings marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    weight = result.chosen.margin_weight
    mine = [p for p in result.points if p.margin_weight == weight]
    shown = sorted({result.current.faq_threshold, result.chosen.faq_threshold,
                    min(p.faq_threshold for p in mine), max(p.faq_threshold for p in mine)})
    for faq in shown:
        line = [p for p in mine if p.faq_threshold == faq]
        ax.plot([p.confidently_wrong for p in line], [p.reach for p in line], marker=".",
                linewidth=1, label=f"faq threshold {faq:.3f}, margin weight {weight:g}")
    for name, point, colour, offset in (("now", result.current, "#495057", (10, 6)),
                                        ("tuned", result.chosen, "#c92a2a", (10, -14))):
        ax.scatter([point.confidently_wrong], [point.reach], s=90, color=colour, zorder=3)
        ax.annotate(f"{name} (rag {point.rag_threshold:.2f}, margin {point.margin_weight:g})",
                    (point.confidently_wrong, point.reach), textcoords="offset points",
                    xytext=offset, fontsize=8, color=colour)
    ax.set_xlabel("confidently wrong answers (share of all probes)")
    ax.set_ylabel("customers' questions answered" if result.asked else "rewordings answered")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
