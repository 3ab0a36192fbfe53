"""The labelling stage: a reference single point for every structure the sampling stage wrote.

It sits after :mod:`seilab.sampling` in the pipeline (it reads the sampling manifest) and uses the
reference layer's labeller (:func:`seilab.reference.labelling.label_structures`), which active
learning and the production audit use too. Entry point: :func:`.stage.run_labelling`.
"""
