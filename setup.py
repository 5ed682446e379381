"""Packaging for signpipe: the repo's top-level folders install as `signpipe.<folder>`."""

from setuptools import setup

SUBPACKAGES = ("pipeline", "components", "models", "data", "inference", "runs")


def _package_dirs() -> dict:
    """Map `signpipe.<name>` to the top-level folder `<name>` (TFX template layout)."""
    dirs = {"signpipe": "signpipe"}
    dirs.update({f"signpipe.{name}": name for name in SUBPACKAGES})
    return dirs


def _packages() -> list:
    """List every package under the mapped folders."""
    import os

    packages = ["signpipe"]
    for name in SUBPACKAGES:
        for root, _dirs, files in os.walk(name):
            if "__init__.py" in files:
                packages.append("signpipe." + root.replace(os.sep, "."))
    return packages


setup(
    name="signpipe",
    version="0.1.0",
    description="TFX pipeline from folders of hand-sign photographs to served and TFLite models.",
    python_requires=">=3.9,<3.11",
    packages=_packages(),
    package_dir=_package_dirs(),
    package_data={"signpipe.data": ["*.txt"]},
    install_requires=[
        "tfx==1.16.0",
        "tf-keras==2.16.0",
        "apache-beam[gcp]==2.60.0",
        "tensorflow-model-optimization==0.8.1",  # the QAT TFLite variant
        "mediapipe==0.10.9",  # hand analysis at ingestion (the default)
        "scikit-learn==1.5.1",  # the run report's population view
        "pillow",
        "jinja2",
        "matplotlib",
    ],
    entry_points={"console_scripts": ["signpipe=signpipe.cli:main"]},
)
