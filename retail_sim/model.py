"""WorldModel: a pre-LayerNorm transformer encoder over one basket.

Tokens: position 0 is the context token (dense context T1 ‖ T3 ‖ T5 ‖ T6 [B, 400] -> d_model),
positions 1..S are the basket items (T2 ‖ T4 [B, S, 320] -> d_model). Heads: masked-item logits
over the product vocabulary at the masked positions, and one classifier per auxiliary task on
the context token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from retail_sim.config import ModelConfig
from retail_sim.data.batch import DENSE_DIM, IGNORE_INDEX, PRICE_DIM, PRODUCT_DIM, WorldModelBatch
from retail_sim.data.codes import AUXILIARY_CODES
from retail_sim.data.history import N_FEATURES as HISTORY_FEATURES
from retail_sim.errors import UserError
from retail_sim.vocab import FIRST_PRODUCT_IDX

# preset -> (d_model, n_layers, n_heads)
PRESETS = {
    "tiny": (64, 2, 4),  # ~0.5M parameters + the item head: CPU tests and the demo
    "base": (512, 6, 8),  # ~19M parameters + the item head: one GPU
}
AUXILIARY_CLASSES = {task: len(classes) for task, (_, classes) in AUXILIARY_CODES.items()}
EXCLUDED_LOGIT = -1e9  # logit given to special ids (PAD/UNK/MASK): never predicted


@dataclass(frozen=True)
class ModelDims:
    d_model: int
    n_layers: int
    n_heads: int
    dropout: float
    ff_mult: int
    product_input: str
    item_head: str
    history: str
    history_hidden: int
    history_tokens: int


def resolve_dims(cfg: ModelConfig) -> ModelDims:
    """The preset's sizes with the explicitly set (non-zero) fields of `cfg` on top (the choices of
    preset, product_input, item_head and history are checked by config.validate)."""
    d_model, n_layers, n_heads = PRESETS[cfg.preset]
    dims = ModelDims(
        d_model=cfg.d_model or d_model,
        n_layers=cfg.n_layers or n_layers,
        n_heads=cfg.n_heads or n_heads,
        dropout=cfg.dropout,
        ff_mult=cfg.ff_mult,
        product_input=cfg.product_input,
        item_head=cfg.item_head,
        history=cfg.history,
        history_hidden=cfg.history_hidden,
        history_tokens=cfg.history_tokens,
    )
    if dims.d_model % dims.n_heads:
        raise UserError(f"model.d_model = {dims.d_model} is not divisible by model.n_heads = {dims.n_heads}")
    return dims


class HistoryBias(nn.Module):
    """Item-logit bias from the customer's purchase history: φ(features) for each history product
    and one learned constant for every other product. φ = scale · feature 0 (ln(1 + decayed
    count)) + MLP(features) + a learned per-product repeat bias, the MLP's last layer and the
    repeat biases zero at init, so at step 0 the ranking among history products follows their
    decayed count."""

    def __init__(self, hidden: int, n_products: int, product_bias: bool = True, context_dim: int = 0):
        super().__init__()
        self.context = nn.Linear(context_dim, 16) if context_dim else None
        self.mlp = nn.Sequential(nn.Linear(HISTORY_FEATURES + (16 if context_dim else 0), hidden), nn.GELU(),
                                 nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        self.scale = nn.Parameter(torch.tensor(1.0))
        self.rest = nn.Parameter(torch.tensor(0.0))
        self.repeat_bias = nn.Parameter(torch.zeros(n_products)) if product_bias else None

    def forward(self, ids: torch.Tensor, features: torch.Tensor, mask: torch.Tensor, n_products: int,
                hidden: torch.Tensor | None = None) -> torch.Tensor:
        """history ids [B, K], features [B, K, F], mask [B, K] (and, with a context projection, the
        masked positions' hidden states [B, M, d]) -> bias [B, 1, n_products] (or [B, M, n_products])."""
        if self.context is not None:  # φ sees the masked position: [B, M, K]
            m = hidden.shape[1]
            ctx = self.context(hidden).unsqueeze(2).expand(-1, -1, ids.shape[1], -1)
            x = torch.cat([features.unsqueeze(1).expand(-1, m, -1, -1), ctx], dim=-1)
            phi = self.scale * features[..., 0].unsqueeze(1) + self.mlp(x).squeeze(-1)
            ids, mask = ids.unsqueeze(1).expand(-1, m, -1), mask.unsqueeze(1).expand(-1, m, -1)
        else:
            phi = (self.scale * features[..., 0] + self.mlp(features).squeeze(-1)).unsqueeze(1)  # [B, 1, K]
            ids, mask = ids.unsqueeze(1), mask.unsqueeze(1)
        if self.repeat_bias is not None:
            phi = phi + self.repeat_bias[ids]
        bias = self.rest.expand(*ids.shape[:2], n_products).clone()
        return bias.scatter(2, ids, torch.where(mask, phi, self.rest.expand_as(phi)))


class HistoryTokens(nn.Module):
    """The top history products as encoder tokens: product embedding (the cache's table) projected
    to d_model + MLP(features) + a learned type embedding."""

    def __init__(self, d_model: int, hidden: int, table: torch.Tensor):
        super().__init__()
        self.register_buffer("product_table", table)
        self.product_proj = nn.Sequential(nn.LayerNorm(PRODUCT_DIM), nn.Linear(PRODUCT_DIM, d_model))
        self.feature_mlp = nn.Sequential(nn.Linear(HISTORY_FEATURES, hidden), nn.GELU(), nn.Linear(hidden, d_model))
        self.type_embedding = nn.Parameter(torch.zeros(d_model))

    def forward(self, ids: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """ids [B, T], features [B, T, F] -> tokens [B, T, d_model]."""
        emb = self.product_table.to(features.dtype)[ids]
        return self.product_proj(emb) + self.feature_mlp(features) + self.type_embedding


class WorldModel(nn.Module):
    """Masked-item and auxiliary-task model over a WorldModelBatch.

    n_products: vocabulary size including the special ids (TensorCache.n_products_total).
    product_embeddings [n_products, 256] and positional_encodings [max_seq_len, 256]: the cache's
    arrays; with product_input = 'learned' the initial value of the trainable embedding and the
    fixed positions added to it; with item_head = 'tied' and product_input = 'cache' the fixed
    output table; with history = 'tokens' or 'both' the table the history tokens read. A model restored from a checkpoint may omit them (they are in its state).
    """

    def __init__(
        self,
        cfg: ModelConfig,
        n_products: int,
        max_seq_len: int = 50,
        product_embeddings: torch.Tensor | None = None,
        positional_encodings: torch.Tensor | None = None,
    ):
        super().__init__()
        dims = resolve_dims(cfg)
        self.dims = dims
        self.n_products = n_products
        d = dims.d_model
        self.context_proj = nn.Sequential(nn.LayerNorm(DENSE_DIM), nn.Linear(DENSE_DIM, d))
        self.item_proj = nn.Sequential(nn.LayerNorm(PRODUCT_DIM + PRICE_DIM), nn.Linear(PRODUCT_DIM + PRICE_DIM, d))
        if dims.product_input == "learned":
            self.product_embedding = nn.Embedding(n_products, PRODUCT_DIM)
            if product_embeddings is not None:
                with torch.no_grad():
                    self.product_embedding.weight.copy_(torch.as_tensor(product_embeddings, dtype=torch.float32))
            pos = torch.zeros(max_seq_len, PRODUCT_DIM)
            if positional_encodings is not None:
                pos = torch.as_tensor(positional_encodings, dtype=torch.float32).clone()
            self.register_buffer("positional_encodings", pos)
        self.dropout = nn.Dropout(dims.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=d,
            nhead=dims.n_heads,
            dim_feedforward=dims.ff_mult * d,
            dropout=dims.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, dims.n_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(d)
        if dims.item_head == "tied":
            # logits = (W h) . E[p] + b[p]: E = the product embeddings the inputs use (the cache's,
            # fixed, or the learned table), so co-purchase structure in E carries over to the output
            self.item_query = nn.Linear(d, PRODUCT_DIM)
            self.item_bias = nn.Parameter(torch.zeros(n_products))
            if dims.product_input == "cache":
                table = torch.zeros(n_products, PRODUCT_DIM)
                if product_embeddings is not None:
                    table = torch.as_tensor(product_embeddings, dtype=torch.float32).clone()
                self.register_buffer("output_embeddings", table)
        else:
            self.item_head = nn.Linear(d, n_products)
        self.auxiliary_heads = nn.ModuleDict({task: nn.Linear(d, n) for task, n in AUXILIARY_CLASSES.items()})
        self.history_bias = HistoryBias(dims.history_hidden, n_products, cfg.history_product_bias,
                                        d if cfg.history_context else 0) if dims.history in ("bias", "both") else None
        self.history_tokens = None
        if dims.history in ("tokens", "both"):
            table = torch.zeros(n_products, PRODUCT_DIM)
            if product_embeddings is not None:
                table = torch.as_tensor(product_embeddings, dtype=torch.float32).clone()
            self.history_tokens = HistoryTokens(d, dims.history_hidden, table)
        special = torch.zeros(n_products, dtype=torch.bool)
        special[:FIRST_PRODUCT_IDX] = True
        self.register_buffer("special_ids", special, persistent=False)

    def item_inputs(self, batch: WorldModelBatch) -> torch.Tensor:
        """[B, S, 320]: T2 ‖ T4, with T2 from the learned embedding when product_input = 'learned'."""
        if self.dims.product_input == "cache":
            return batch.get_sequence_features()
        s = batch.product_ids.shape[1]
        if s > self.positional_encodings.shape[0]:
            raise UserError(f"basket of {s} items exceeds the model's max_seq_len {self.positional_encodings.shape[0]}")
        t2 = self.product_embedding(batch.product_ids) + self.positional_encodings[:s]
        t2 = t2 * batch.attention_mask.unsqueeze(-1)
        return torch.cat([t2, batch.price_features], dim=-1)

    def item_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """[..., d_model] -> [..., n_products] logits."""
        if self.dims.item_head == "linear":
            return self.item_head(hidden)
        table = self.product_embedding.weight if self.dims.product_input == "learned" else self.output_embeddings
        return self.item_query(hidden) @ table.to(hidden.dtype).T + self.item_bias.to(hidden.dtype)

    def forward(self, batch: WorldModelBatch) -> dict[str, torch.Tensor]:
        """Returns item_logits [B, M, n_products] (float32; special ids = EXCLUDED_LOGIT; rows at
        padded masked positions are computed but meaningless) and aux_<task> [B, n_classes]."""
        context = self.context_proj(batch.get_dense_context()).unsqueeze(1)  # [B, 1, d]
        items = self.item_proj(self.item_inputs(batch))  # [B, S, d]
        parts, keeps = [context, items], [torch.ones_like(batch.attention_mask[:, :1]), batch.attention_mask]
        if self.history_tokens is not None:  # after the basket: positions 1..S keep their indices
            t = min(self.dims.history_tokens, batch.history_ids.shape[1])
            parts.append(self.history_tokens(batch.history_ids[:, :t], batch.history_features[:, :t]))
            keeps.append(batch.history_mask[:, :t])
        tokens = self.dropout(torch.cat(parts, dim=1))  # [B, 1+S(+T), d]
        keep = torch.cat(keeps, dim=1)
        hidden = self.final_norm(self.encoder(tokens, src_key_padding_mask=~keep))  # [B, 1+S(+T), d]
        positions = batch.masked_positions.clamp(min=0) + 1  # +1: the context token is position 0
        at_masked = torch.gather(hidden, 1, positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        item_logits = self.item_scores(at_masked).float()
        if self.history_bias is not None:
            bias = self.history_bias(batch.history_ids, batch.history_features.float(), batch.history_mask,
                                     self.n_products, at_masked.float())
            item_logits = item_logits + bias
        item_logits = item_logits.masked_fill(self.special_ids, EXCLUDED_LOGIT)
        out = {"item_logits": item_logits}
        for task, head in self.auxiliary_heads.items():
            out[f"aux_{task}"] = head(hidden[:, 0]).float()
        return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["WorldModel", "PRESETS", "resolve_dims", "count_parameters", "IGNORE_INDEX"]
