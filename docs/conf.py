"""Sphinx configuration: pydata theme, numpydoc, sphinx-gallery examples that run."""

import skheatmap

project = "skheatmap"
author = "skheatmap developers"
copyright = "2026, skheatmap developers"
release = skheatmap.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
}

html_theme = "pydata_sphinx_theme"
html_title = "skheatmap"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
