"""The learning curve figure draws what learning.json holds, including missing values."""

import matplotlib.image as mpimg
import numpy as np

from seilab.learning.figures import plot_learning_curve


def _row(g, f, e, size, added, frac):
    return {"generation": g, "fixed_test_force_rmse_start_meV_per_A": 160.0,
            "fixed_test_energy_rmse_start_meV_per_atom": 63.0, "fixed_test_force_rmse_meV_per_A": f,
            "test_force_rmse_meV_per_A": f + 20, "fixed_test_energy_rmse_meV_per_atom": e,
            "test_energy_rmse_meV_per_atom": e + 5, "dataset_size": size, "labelled": added,
            "explore_gamma": {"frac_gt_1": frac}, "reassess_gamma": {"frac_gt_1": frac / 2}}


def test_learning_curve_is_drawn(tmp_path):
    rows = [_row(1, 250.0, 130.0, 180, 12, 0.034), _row(2, 175.0, 137.0, 192, 12, 0.035)]
    rows.append({"generation": 3, "dataset_size": 192, "labelled": 0})  # a generation that stopped early
    png = plot_learning_curve(rows, tmp_path / "curve.png", dpi=60)
    img = mpimg.imread(png)[..., :3]
    assert img.shape[1] > 500 and (img.mean(axis=2) < 0.9).mean() > 0.02 and np.isfinite(img).all()
