"""The wheel carries assocflow's compiled message catalogues: `build_py` compiles each .po (the
source, in git) into the .mo beside it in the build (never committed), as `make catalogues` does
for a working tree. Everything else about the package is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CATALOGUES = Path("assocflow") / "locale"


class BuildWithCatalogues(build_py):
    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for source in CATALOGUES.glob("*/LC_MESSAGES/*.po"):
            target = Path(self.build_lib) / source.with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with source.open("rb") as po:
                catalogue = read_po(po)
            with target.open("wb") as mo:
                write_mo(mo, catalogue)  # fuzzy entries left out, as pybabel compile does


setup(cmdclass={"build_py": BuildWithCatalogues})
