"""Hand-overs to and from the field's packages, every calibration value included:
HyperSpy / pyxem signals (:mod:`.hyperspy`) and py4DSTEM DataCubes (:mod:`.py4dstem`).
Those packages are optional and imported only when their objects are converted."""
