"""Read, validate, de-identify and describe incoming image files (knows nothing about challenges).

Public entry points: `imaging.deid.deidentify_file`, `imaging.readers.read_pixels`,
`imaging.readers.render_png`, `imaging.errors.ImageFileRejected`.
"""
