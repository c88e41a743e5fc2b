"""Oblique-photography fixtures on disk: the procedural site written out, its scenes made real OSGB by OSG."""

from __future__ import annotations

from pathlib import Path

from ingest_gis.osg_reader import write_osgb
from scenes.oblique_site import SiteOptions, oblique_site


def write_site(folder: Path, options: SiteOptions | None = None) -> Path:
    """Write the site under `folder`; `.osgt` scenes become `.osgb` (JPEGs embedded) and are removed."""
    options = options or SiteOptions()
    for relative, data in oblique_site(options).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if options.fmt == "osgt":
        scenes = sorted(folder.rglob("*.osgt"))
        for scene in scenes:
            write_osgb(scene, scene.with_suffix(".osgb"))
        for leftover in [*scenes, *folder.rglob(f"*.{options.texture}")]:
            leftover.unlink()
    return folder
