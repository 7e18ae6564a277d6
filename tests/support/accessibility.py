"""What an accessibility audit of a page in Chromium finds: axe-core's critical and serious
violations (axe-core comes from the npm registry, installed into tests/browser/node by
scripts/ensure-node-packages.sh), and whether the page scrolls sideways."""
from pathlib import Path

AXE_SCRIPT = Path(__file__).resolve().parents[1] / "browser" / "node" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("critical", "serious")

_RUN_AXE = """async (impacts) => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.filter(v => impacts.includes(v.impact)).map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\\s+/g, " ")),
  }));
}"""


def install_axe(context) -> None:
    """Load axe-core into every page of `context` (an init script: the pages' CSP does not apply)."""
    if not AXE_SCRIPT.exists():
        raise RuntimeError(f"{AXE_SCRIPT} is missing: `make test` installs it (scripts/ensure-node-packages.sh)")
    context.add_init_script(path=str(AXE_SCRIPT))


def blocking_violations(page) -> list[dict]:
    """axe-core's critical and serious violations on the page as it is now."""
    return page.evaluate(_RUN_AXE, list(BLOCKING_IMPACTS))


def sideways_overflow(page) -> int:
    """How many pixels the page is wider than the window (0 when it does not scroll sideways)."""
    return page.evaluate("() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")


def describe(violations: list[dict]) -> str:
    return "; ".join(f"{v['impact']} {v['id']} ({v['help']}): {' | '.join(v['nodes'])}" for v in violations)
