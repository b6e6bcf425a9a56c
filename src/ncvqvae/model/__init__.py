"""A trained run as a Python object, and the export files it is read from.

Nothing here imports the training code (Lightning): loading a run to tokenize, embed,
reconstruct, sample, impute or forecast needs only torch and the model definitions.
"""
