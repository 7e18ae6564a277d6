"""Geometry for the overview's server-rendered SVG charts (no JavaScript, no CDN)."""

SERIES = (("delivered", "#1a7f37"), ("retrying", "#e0a526"), ("dead", "#c0262d"))


def stacked_bars(hours: list[dict], width: int = 720, height: int = 160) -> dict:
    """Rectangles for a stacked bar chart of deliveries per hour, scaled to the busiest hour."""
    peak = max((sum(hour[name] for name, _ in SERIES) for hour in hours), default=0) or 1
    slot = width / max(len(hours), 1)
    bars = []
    for index, hour in enumerate(hours):
        y = height
        for name, colour in SERIES:
            size = hour[name] / peak * (height - 10)
            if hour[name]:
                y -= size
                bars.append({"x": round(index * slot + 2, 1), "y": round(y, 1), "width": round(slot - 4, 1),
                             "height": round(size, 1), "colour": colour,
                             "title": f"{hour['label']}: {hour[name]} {name}"})
    labels = [{"x": round(index * slot + slot / 2, 1), "text": hour["label"]}
              for index, hour in enumerate(hours) if index % 3 == 0]
    return {"width": width, "height": height, "bars": bars, "labels": labels, "peak": peak,
            "series": SERIES}
