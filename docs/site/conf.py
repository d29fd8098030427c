"""Sphinx configuration for the course's static site (`make site`; see docs/site/build.py).

The pages come from the committed, executed notebooks; nothing is re-executed. build.py lays out
the sources (README as the landing page, the notebooks, docs/teaching.md) and passes the repository
address, read from README's one link definition, in the environment.
"""

import os

project = "resblock: residual connections, a course you can run"
author = "the resblock authors"
copyright = "the resblock authors, MIT licence"

extensions = [
    "myst_nb",  # notebooks and MyST markdown; renders the committed outputs
    "sphinx-mathjax-offline",  # MathJax shipped with the site: equations render without a network
]

# The committed outputs are the content: never execute.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3  # README links to docs/teaching.md#on-a-jupyterhub-with-nbgitpuller
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.xref_missing"]

REPOSITORY = os.environ["RESBLOCK_REPOSITORY"]  # e.g. https://github.com/resblock-course/resblock
BRANCH = os.environ.get("RESBLOCK_BRANCH", "main")

html_theme = "sphinx_book_theme"
html_title = "resblock: residual connections"
html_static_path = [os.path.join(os.path.dirname(__file__), "static")]
html_css_files = ["resblock-site.css"]
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": BRANCH,
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "show_toc_level": 2,
}
