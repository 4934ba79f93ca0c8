"""Packages: syops and its subpackages, plus the command line in cli/ installed as syops.cli.
Everything else lives in setup.cfg."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["syops", "syops.*"]), "syops.cli"],
    package_dir={"syops.cli": "cli"},
)
