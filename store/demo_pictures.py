"""Product pictures for the demo catalog, drawn at seed time with Pillow (no image files in the repo):
a studio-like backdrop with a soft shadow and a simple object of the product's kind (phone,
headphones, garment, bottle, kettle, pot, box), coloured per product so a shop window looks varied."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw, ImageFilter

SIZE = 800
KINDS = ("phone", "headphones", "garment", "bottle", "kettle", "pot", "box")
_BY_PREFIX = {
    "PHN": "phone", "AUD": "headphones", "MEN": "garment", "WMN": "garment", "KID": "garment",
    "SKN": "bottle", "HAR": "bottle", "KIT": "kettle", "TEA": "pot", "COF": "box", "DSH": "pot",
}
_PALETTE = [(231, 76, 60), (52, 152, 219), (46, 204, 113), (155, 89, 182), (241, 196, 15), (230, 126, 34),
            (26, 188, 156), (52, 73, 94), (236, 112, 160), (127, 140, 141)]


def kind_for(stem: str) -> str:
    return _BY_PREFIX.get(stem.split("-")[0], "box")


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    r, g, b = color
    return (min(255, int(r * factor)), min(255, int(g * factor)), min(255, int(b * factor)))


def draw(kind: str, seed: str) -> bytes:
    """A PNG of SIZE x SIZE for `kind` (one of KINDS), coloured by `seed`."""
    digest = hashlib.sha256(seed.encode()).digest()
    color = _PALETTE[digest[0] % len(_PALETTE)]
    accent = _PALETTE[digest[1] % len(_PALETTE)]
    image = Image.new("RGB", (SIZE, SIZE))
    backdrop = ImageDraw.Draw(image)
    for y in range(SIZE):  # a light vertical gradient, like a studio backdrop
        tone = 250 - int(30 * y / SIZE)
        backdrop.line([(0, y), (SIZE, y)], fill=(tone, tone, min(255, tone + 4)))
    shadow = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(shadow).ellipse([200, 650, 600, 710], fill=90)
    image.paste((120, 120, 130), mask=shadow.filter(ImageFilter.GaussianBlur(18)))
    d = ImageDraw.Draw(image)
    dark, light = _shade(color, 0.7), _shade(color, 1.25)
    if kind == "phone":
        d.rounded_rectangle([270, 110, 530, 670], radius=42, fill=(35, 35, 40))
        d.rounded_rectangle([284, 130, 516, 650], radius=30, fill=color)
        d.rounded_rectangle([284, 130, 516, 390], radius=30, fill=light)
        d.rounded_rectangle([365, 142, 435, 160], radius=9, fill=(20, 20, 24))
        for row in range(4):
            for col in range(4):
                x, y = 306 + col * 54, 420 + row * 54
                d.rounded_rectangle([x, y, x + 38, y + 38], radius=10, fill=_shade(accent, 0.8 + 0.1 * col))
    elif kind == "headphones":
        d.arc([230, 150, 570, 520], start=180, end=360, fill=dark, width=34)
        for x in (205, 505):
            d.rounded_rectangle([x, 370, x + 90, 560], radius=40, fill=color)
            d.rounded_rectangle([x + 18, 392, x + 72, 538], radius=26, fill=light)
    elif kind == "garment":
        d.polygon([(250, 170), (340, 140), (400, 190), (460, 140), (550, 170), (640, 300), (570, 350),
                   (540, 310), (540, 640), (260, 640), (260, 310), (230, 350), (160, 300)], fill=color)
        d.arc([345, 120, 455, 215], start=0, end=180, fill=dark, width=10)
        d.rectangle([260, 560, 540, 585], fill=_shade(accent, 1.0))
    elif kind == "bottle":
        d.rounded_rectangle([340, 140, 460, 220], radius=14, fill=(60, 60, 66))
        d.rounded_rectangle([290, 210, 510, 650], radius=60, fill=color)
        d.rounded_rectangle([315, 360, 485, 520], radius=18, fill=(250, 250, 246))
        d.rectangle([335, 400, 465, 420], fill=accent)
        d.rectangle([335, 440, 430, 455], fill=_shade(accent, 0.8))
    elif kind == "kettle":
        d.ellipse([220, 250, 580, 650], fill=color)
        d.rounded_rectangle([300, 200, 500, 280], radius=30, fill=dark)
        d.arc([430, 230, 660, 520], start=280, end=80, fill=dark, width=30)
        d.polygon([(235, 420), (140, 330), (165, 310), (260, 380)], fill=dark)
        d.ellipse([300, 330, 380, 410], fill=light)
    elif kind == "pot":
        d.rounded_rectangle([210, 330, 590, 630], radius=70, fill=color)
        d.rounded_rectangle([190, 300, 610, 350], radius=20, fill=dark)
        d.rounded_rectangle([360, 250, 440, 300], radius=18, fill=(60, 60, 66))
        for x in (150, 600):
            d.rounded_rectangle([x, 360, x + 50, 400], radius=14, fill=dark)
        d.ellipse([260, 400, 330, 470], fill=light)
    else:  # a gift box / packaged good
        d.polygon([(400, 200), (620, 290), (400, 380), (180, 290)], fill=light)
        d.polygon([(180, 290), (400, 380), (400, 650), (180, 560)], fill=color)
        d.polygon([(400, 380), (620, 290), (620, 560), (400, 650)], fill=dark)
        d.polygon([(285, 245), (505, 335), (505, 370), (285, 280)], fill=accent)
        d.line([(400, 380), (400, 650)], fill=_shade(accent, 0.9), width=6)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()
