"""Concentration: top-code mass, singleton and largest cells, on a case worked out on paper and
against the usage and collision tables of the reference IDs."""

from collections import Counter

import numpy as np
import pytest

from analysis.metrics.collisions import collision_report
from analysis.metrics.concentration import code_concentration
from analysis.metrics.usage import codebook_usage
from rqvae.errors import InputError
from rqvae.id_metrics import SortedCodes
from tests.reference_ids import METHODS, load_tokens, tokens_to_codes

# Six items, three levels, K = 2.
CODES = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]])


def test_concentration_by_hand():
    table = code_concentration(CODES, 2)
    # Every level's counts are (4, 2): Gini, sorted (2, 4): (-1 * 2 + 1 * 4) / (2 * 6) = 1/6;
    # the top code holds 4 of 6 items, the top 5 (both codes) all 6.
    assert table["gini"].tolist() == pytest.approx([1 / 6] * 3, rel=1e-12)
    assert table["top1_mass"].tolist() == pytest.approx([4 / 6] * 3, rel=1e-12)
    assert table["top5_mass"].tolist() == [1.0, 1.0, 1.0]
    # Cells: level 0 {0,1,2,4} {3,5}; level 1 (0,0):{0,1,4} (0,1):{2} (1,0):{3} (1,1):{5};
    # level 2 (0,0,0):{0,4} and four single items.
    assert table["cells"].tolist() == [2, 4, 5]
    assert table["singleton_cells"].tolist() == [0, 3, 4]
    assert table["singleton_cell_share"].tolist() == pytest.approx([0, 3 / 4, 4 / 5], rel=1e-12)
    assert table["singleton_item_share"].tolist() == pytest.approx([0, 3 / 6, 4 / 6], rel=1e-12)
    assert table["largest_cell"].tolist() == [4, 3, 2]
    assert table["largest_cell_share"].tolist() == pytest.approx([4 / 6, 3 / 6, 2 / 6])


def test_fewer_than_five_codes_and_bad_sizes():
    codes = np.array([[0], [1], [2], [2]])
    table = code_concentration(codes, 3)
    assert table["top5_mass"].tolist() == [1.0]
    assert table["top1_mass"].tolist() == [0.5]
    with pytest.raises(InputError, match="below codebook_size 2"):
        code_concentration(codes, 2)
    # counts made elsewhere (the diagnosis passes usage's) give the same table
    given = code_concentration(codes, 3, counts=[np.array([1, 1, 2])])
    assert given.equals(table)
    with pytest.raises(InputError, match="counts have \\[2\\] codes, expected \\[3\\]"):
        code_concentration(codes, 3, counts=[np.array([1, 3])])


@pytest.mark.parametrize("method", METHODS)
def test_matches_usage_and_collisions_on_reference_ids(scientific_dir, method):
    codes = tokens_to_codes(load_tokens(scientific_dir, method))
    index = SortedCodes(codes, 256)
    table = code_concentration(index, 256)
    usage = codebook_usage(index, 256)
    collisions = collision_report(index)
    assert table["gini"].tolist() == usage["gini"].tolist()
    assert table["top1_mass"].tolist() == usage["largest_share"].tolist()
    assert table["largest_cell"].tolist() == collisions.prefixes["largest_group"].tolist()
    assert table["largest_cell"].iloc[-1] == collisions.largest_group
    assert table["cells"].tolist() == collisions.prefixes["distinct"].tolist()
    for level in range(codes.shape[1]):
        top5 = sum(count for _, count in Counter(codes[:, level].tolist()).most_common(5))
        assert table["top5_mass"][level] == pytest.approx(top5 / len(codes), rel=1e-12)
        cells = Counter(map(tuple, codes[:, : level + 1].tolist()))
        assert table["singleton_cells"][level] == sum(size == 1 for size in cells.values())
