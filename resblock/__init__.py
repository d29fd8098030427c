"""resblock: a course on residual connections you can run.

One layering rule, visible in the file names: a topic's numbers are in ``topic.py``, its pictures in
``topic_plots.py`` (data in, matplotlib Axes out), its widget in ``widgets/`` (one module per widget).
Import the module you need; nothing runs at import time. The modules by topic (notebooks in brackets):

* the nets: ``blocks``, ``models`` (01-07); ``identity_fit``, ``identity_fit_plots`` (01)
* gradient flow: ``gradients``, ``gradients_plots``, ``explorer``, ``explorer_plots``, ``widgets.gradflow`` (02)
* training: ``train``, ``train_plots``, ``checkpoints``, ``evaluation``, ``evaluation_plots``, ``summary``, ``widgets.dashboard`` (03-07); ``side_by_side`` (several runs at once: 03)
* the degradation problem: ``degradation``, ``degradation_plots`` (03)
* ensembles of paths: ``paths``, ``paths_plots``, ``widgets.lesions``, ``trained_nets`` (05, 06)
* loss landscapes: ``landscape``, ``landscape_plots`` (06)
* variants and the transformer: ``variants``, ``variants_plots``, ``transformer`` (07)
* every notebook: ``exercises``, ``claims``, ``data``, ``env`` (seed and device), ``style`` (the look of every figure)
* behind the scenes: ``checks``, ``files`` (results/ and safe writes), ``experiments``, ``claims_sweep``, ``bench``,
  ``nbcompare`` (nbval's comparison of a notebook run elsewhere: in JupyterLab, in the sweep)
"""

__version__ = "0.2.0"
