"""Helpers of the reranker training tests (imported by name: a test must never import `conftest`)."""

from __future__ import annotations

from pathlib import Path

TOPICS: dict[str, dict[str, str]] = {
    "sourdough": {
        "Feeding the starter": "A sourdough starter is fed with equal weights of flour and water once a day. "
        "Discard half of the starter before each feeding so that the yeast and bacteria keep a steady supply "
        "of fresh flour; a lively starter doubles in volume within six hours.",
        "Baking temperature": "Bake the loaf in a preheated Dutch oven at 250 degrees Celsius for twenty minutes "
        "with the lid on, then remove the lid and lower the oven to 220 degrees so that the crust browns "
        "without burning while the crumb finishes setting.",
    },
    "bicycles": {
        "Tyre pressure": "Road bicycle tyres usually run between six and eight bar, while mountain bike tyres "
        "run far lower, around two bar, to grip rocks and roots. Check the pressure with a gauge every week "
        "because tubes slowly lose air even without a puncture.",
        "Chain maintenance": "Clean the chain with a degreaser and a brush, dry it with a rag, then apply one "
        "drop of lubricant on every roller. Wipe off the excess so the chain does not collect grit that wears "
        "out the cassette and the chainrings.",
    },
    "tea": {
        "Green tea": "Green tea leaves are steeped in water at about eighty degrees for two or three minutes. "
        "Boiling water scalds the delicate leaves and releases bitter tannins, so let the kettle cool for a "
        "while before pouring it over the leaves.",
        "Storing leaves": "Keep loose tea leaves in an airtight opaque tin away from light, heat, moisture and "
        "strong smells such as spices or coffee, because the dry leaves absorb odours easily and lose their "
        "aroma within months when exposed to air.",
    },
    "astronomy": {
        "Observing the moon": "The best time to observe lunar craters through a small telescope is near the "
        "first quarter, when the low sunlight along the terminator casts long shadows that make the crater "
        "walls and mountains stand out in sharp relief.",
        "Dark adaptation": "Human eyes need about twenty to thirty minutes in complete darkness to adapt for "
        "faint galaxies and nebulae. Use a dim red flashlight to read star charts, since red light does not "
        "reset the dark adaptation of the rods in the retina.",
    },
    "gardening": {
        "Composting": "A compost heap needs a mix of green material such as grass clippings and vegetable "
        "scraps with brown material such as dry leaves and cardboard. Turn the heap every few weeks to bring "
        "oxygen to the microbes that break the material down.",
        "Watering tomatoes": "Water tomato plants deeply at the base twice a week rather than a little every "
        "day, and keep the leaves dry to avoid blight. Irregular watering makes the fruit split and causes "
        "blossom end rot.",
    },
    "sailing": {
        "Reefing the mainsail": "Reef the mainsail before the wind gets too strong: ease the mainsheet, lower "
        "the halyard to the reef point, hook the cringle on the reefing horn, tension the reefing line and "
        "hoist again so the smaller sail keeps the boat upright.",
        "Right of way": "When two sailing boats meet on opposite tacks, the boat on port tack must keep clear "
        "of the boat on starboard tack. A boat that is overtaking another must always keep clear of the boat "
        "it overtakes, whatever the tack.",
    },
}


def write_tiny_corpus(root: Path) -> Path:
    """Six Markdown documents with two sections each, written under `root`; returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for name, sections in TOPICS.items():
        body = [f"# {name.title()}", ""]
        for heading, text in sections.items():
            body += [f"## {heading}", "", text, ""]
        (root / f"{name}.md").write_text("\n".join(body), encoding="utf-8")
    return root
