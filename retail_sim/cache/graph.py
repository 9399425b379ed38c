"""GraphSAGE product embeddings in plain torch: co-purchase graph, model, link-prediction training.

Nodes are the products with training-week lines (in product-code order). A node's input is built
from its hierarchy codes (PROD_CODE_10/20/30/40, learned embeddings) and its training-week price
level only, so a product the graph never saw still gets an embedding — from its hierarchy, with
no neighbours. Two mean-aggregation layers give a 256-d, L2-normalised output.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from retail_sim.config import GraphConfig


def neighbour_table(
    n_nodes: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray, max_neighbours: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed edges (dst <- src) keeping each node's `max_neighbours` heaviest neighbours.

    a, b: [E] node ids of undirected pairs; weight: [E] > 0. Ties go to the lower neighbour id.
    Returns (dst, src, w) sorted by (dst, src) with w normalised to sum 1 per dst: the weights of
    a weighted mean over the kept neighbours.
    """
    dst = np.concatenate([a, b]).astype(np.int64)
    src = np.concatenate([b, a]).astype(np.int64)
    w = np.concatenate([weight, weight]).astype(np.float64)
    order = np.lexsort((src, -w, dst))  # by dst, then heaviest first, then lower src
    dst, src, w = dst[order], src[order], w[order]
    starts = np.searchsorted(dst, dst, side="left")
    rank = np.arange(len(dst)) - starts
    keep = rank < max_neighbours
    dst, src, w = dst[keep], src[keep], w[keep]
    order = np.lexsort((src, dst))
    dst, src, w = dst[order], src[order], w[order]
    totals = np.bincount(dst, weights=w, minlength=n_nodes)
    w = w / totals[dst]
    return dst, src, w


def mean_operator(n_nodes: int, dst: np.ndarray, src: np.ndarray, w: np.ndarray) -> torch.Tensor:
    """Sparse [N, N] row-stochastic matrix: (A @ h)[i] = weighted mean of h over i's neighbours
    (a zero row for a node without neighbours)."""
    index = torch.from_numpy(np.stack([dst, src]))
    values = torch.from_numpy(w.astype(np.float32))
    return torch.sparse_coo_tensor(index, values, (n_nodes, n_nodes), check_invariants=True).coalesce()


class GraphSAGE(nn.Module):
    """2-layer GraphSAGE, mean aggregation: h' = act(W [h ‖ mean_neighbours(h)]), unit-norm output.

    Node input h0 = LayerNorm(sum of the PROD_CODE_10/20/30/40 embeddings + the projected numeric
    features + the node's ID embedding). ID row 0 is the shared "unseen" vector: products without
    training lines always get it, training products get it with probability `id_dropout` per
    training step, so row 0 learns to stand for "known only by hierarchy and price".
    """

    def __init__(self, n_codes: tuple[int, ...], n_numeric: int, n_ids: int, dim: int = 256,
                 hidden: int = 256, input_dim: int = 64):
        super().__init__()
        # row 0 of every code table is "code unseen in training": kept at zero, never trained
        self.code_embeddings = nn.ModuleList(nn.Embedding(n + 1, input_dim, padding_idx=0) for n in n_codes)
        self.id_embedding = nn.Embedding(n_ids + 1, input_dim)
        self.numeric = nn.Linear(n_numeric, input_dim)
        self.input_norm = nn.LayerNorm(input_dim)
        self.layer1 = nn.Linear(2 * input_dim, hidden)
        self.layer2 = nn.Linear(2 * hidden, dim)

    def features(self, codes: torch.Tensor, numeric: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """codes [N, 4] int64 (0 = unseen code), numeric [N, F], ids [N] int64 (0 = unseen)
        -> node input [N, input_dim]."""
        h = self.numeric(numeric) + self.id_embedding(ids)
        for level, table in enumerate(self.code_embeddings):
            h = h + table(codes[:, level])
        return self.input_norm(h)

    def forward(self, codes: torch.Tensor, numeric: torch.Tensor, ids: torch.Tensor, mean_op: torch.Tensor) -> torch.Tensor:
        """-> [N, dim] L2-normalised embeddings; mean_op is the [N, N] neighbour-mean operator."""
        h0 = self.features(codes, numeric, ids)
        h1 = torch.relu(self.layer1(torch.cat([h0, torch.sparse.mm(mean_op, h0)], dim=1)))
        h1 = nn.functional.normalize(h1, dim=1)
        h2 = self.layer2(torch.cat([h1, torch.sparse.mm(mean_op, h1)], dim=1))
        return nn.functional.normalize(h2, dim=1)


def train_graphsage(
    codes: np.ndarray,
    numeric: np.ndarray,
    mean_op: torch.Tensor,
    pos_a: np.ndarray,
    pos_b: np.ndarray,
    pos_weight: np.ndarray,
    popularity: np.ndarray,
    cfg: GraphConfig,
    dim: int,
    seed: int,
) -> tuple[GraphSAGE, dict]:
    """Unsupervised link prediction: co-purchase pairs (drawn by pos_weight) against negatives
    drawn by popularity^0.75; binary cross-entropy on cosine / temperature. Full-batch: every
    step embeds all N nodes (node i has ID i + 1; each ID is replaced by the unseen row 0 with
    probability cfg.id_dropout). Deterministic with seed.

    codes [N, 4], numeric [N, F], pos_a/pos_b/pos_weight [E], popularity [N] (training lines).
    Returns the model and {"loss_first", "loss_last"} (means over the first and last 10% of steps).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n_nodes = len(codes)
    n_codes = tuple(int(codes[:, level].max()) for level in range(codes.shape[1]))
    model = GraphSAGE(n_codes, numeric.shape[1], n_nodes, dim=dim, hidden=cfg.hidden_dim, input_dim=cfg.input_dim)
    with torch.no_grad():
        model.id_embedding.weight.mul_(cfg.id_init_std)
    # per-node logit bias (training only, not part of the embedding): absorbs how often a product
    # appears in pairs at all, so the cosine is left to carry which products go together
    bias = nn.Parameter(torch.zeros(n_nodes))
    opt = torch.optim.Adam([*model.parameters(), bias], lr=cfg.lr)
    codes_t = torch.from_numpy(codes.astype(np.int64))
    numeric_t = torch.from_numpy(numeric.astype(np.float32))
    ids_t = torch.arange(1, n_nodes + 1, dtype=torch.int64)
    pos_a_t = torch.from_numpy(pos_a.astype(np.int64))
    pos_b_t = torch.from_numpy(pos_b.astype(np.int64))
    pos_p = torch.from_numpy(pos_weight.astype(np.float64))
    neg_p = torch.from_numpy(popularity.astype(np.float64) ** 0.75)
    losses = []
    for step in range(cfg.steps):
        for group in opt.param_groups:  # linear warm-down to 10% of lr over the last half
            group["lr"] = cfg.lr * min(1.0, 1.0 - 1.8 * max(0.0, step / max(cfg.steps, 1) - 0.5))
        pick = torch.multinomial(pos_p, cfg.batch_size, replacement=True, generator=gen)
        neg = torch.multinomial(neg_p, cfg.batch_size * cfg.negatives, replacement=True, generator=gen)
        keep = torch.rand(n_nodes, generator=gen) >= cfg.id_dropout
        z = model(codes_t, numeric_t, ids_t * keep, mean_op)
        a, b = pos_a_t[pick], pos_b_t[pick]
        a_neg = a.repeat_interleave(cfg.negatives, 0)
        pos_logit = (z[a] * z[b]).sum(1) / cfg.temperature
        neg_logit = (z[a_neg] * z[neg]).sum(1) / cfg.temperature
        if cfg.node_bias:
            pos_logit = pos_logit + bias[a] + bias[b]
            neg_logit = neg_logit + bias[a_neg] + bias[neg]
        loss = nn.functional.binary_cross_entropy_with_logits(
            pos_logit, torch.ones_like(pos_logit)
        ) + nn.functional.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    tenth = max(1, len(losses) // 10)
    metrics = {
        "loss_first": round(float(np.mean(losses[:tenth])), 4) if losses else None,
        "loss_last": round(float(np.mean(losses[-tenth:])), 4) if losses else None,
    }
    return model, metrics


@torch.no_grad()
def embed(model: GraphSAGE, codes: np.ndarray, numeric: np.ndarray, ids: np.ndarray, mean_op: torch.Tensor,
          hierarchy_mix: float = 0.0) -> np.ndarray:
    """[N, dim] float32 unit-norm embeddings of the nodes of `mean_op`; ids [N] (0 = unseen).

    hierarchy_mix λ: the output is normalise((1 - λ) z + λ z_hier), z_hier = the same model on the
    hierarchy codes alone (unseen ID, zero numeric input, no neighbours) — identical for products
    of the same PROD_CODE_10, so λ pulls a category together without a second model.
    """
    model.eval()
    codes_t = torch.from_numpy(codes.astype(np.int64))
    numeric_t = torch.from_numpy(numeric.astype(np.float32))
    z = model(codes_t, numeric_t, torch.from_numpy(ids.astype(np.int64)), mean_op)
    if hierarchy_mix > 0:
        n = len(codes)
        empty = mean_operator(n, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        z_hier = model(codes_t, torch.zeros_like(numeric_t), torch.zeros(n, dtype=torch.int64), empty)
        z = nn.functional.normalize((1.0 - hierarchy_mix) * z + hierarchy_mix * z_hier, dim=1)
    return z.numpy().astype(np.float32)
