"""Rows of results as a column table, the layout of sklearn's ``cv_results_``."""

import numpy as np

__all__ = ["rows_to_columns"]


def rows_to_columns(rows, params_key="params"):
    """Columns (NumPy arrays) from a list of row dicts; ``param_<name>`` columns are masked.

    Every key of any row becomes a column (missing entries: NaN for numbers,
    None otherwise); each parameter name of ``row[params_key]`` becomes a
    masked ``param_<name>`` column, as in ``GridSearchCV.cv_results_``.
    """
    keys = list(dict.fromkeys(k for row in rows for k in row))
    columns = {}
    for key in keys:
        values = [row.get(key) for row in rows]
        if key != params_key and all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values
        ):
            columns[key] = np.asarray(values, dtype=float if any(
                isinstance(v, float | np.floating) for v in values) else int)  # fmt: skip
        else:
            column = np.empty(len(values), dtype=object)
            column[:] = values
            columns[key] = column
    names = dict.fromkeys(name for row in rows for name in row.get(params_key, {}))
    for name in names:
        data, mask = np.empty(len(rows), dtype=object), np.ones(len(rows), dtype=bool)
        for i, row in enumerate(rows):
            if name in row.get(params_key, {}):
                data[i], mask[i] = row[params_key][name], False
        columns[f"param_{name}"] = np.ma.MaskedArray(data, mask=mask)
    return columns
