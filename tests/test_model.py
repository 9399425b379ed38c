"""WorldModel and its loss on fake batches of the contract's shapes (torch.randn features)."""

from __future__ import annotations

import pytest
import torch

from retail_sim.config import AuxiliaryConfig, ModelConfig
from retail_sim.data.batch import (
    CUSTOMER_DIM,
    PRICE_DIM,
    PRODUCT_DIM,
    STORE_DIM,
    TEMPORAL_DIM,
    TRIP_DIM,
    WorldModelBatch,
)
from retail_sim.data.history import N_FEATURES
from retail_sim.model import EXCLUDED_LOGIT, WorldModel, resolve_dims
from retail_sim.train.loss import auxiliary_weights, world_model_loss
from retail_sim.vocab import MASK_IDX

V = 40  # 3 special ids + 37 products
K = 8  # history products per basket


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fake_batch(b: int = 6, s: int = 7, seed: int = 0) -> WorldModelBatch:
    """Baskets of lengths s, s-1, ...; one or two masked positions each; aux labels with -100s."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([max(s - i, 2) for i in range(b)])
    attention = torch.arange(s).unsqueeze(0) < lengths.unsqueeze(1)
    ids = torch.randint(3, V, (b, s), generator=g) * attention
    positions = torch.full((b, 2), -100)
    positions[:, 0] = 0
    positions[::2, 1] = 1  # every other basket has a second masked position
    targets = torch.where(positions >= 0, ids.gather(1, positions.clamp(min=0)), torch.full_like(positions, -100))
    ids = ids.scatter(1, positions.clamp(min=0), MASK_IDX) * attention
    pad = attention.unsqueeze(-1).float()
    # history: K products per basket (distinct, the hidden targets among them half of the time), PAD after
    n_hist = torch.tensor([K - i % 3 for i in range(b)])
    history_mask = torch.arange(K).unsqueeze(0) < n_hist.unsqueeze(1)
    history_ids = torch.stack([torch.randperm(V - 3, generator=g)[:K] + 3 for _ in range(b)])
    history_ids[::2, 0] = targets[::2, 0]
    history_ids = history_ids * history_mask
    return WorldModelBatch(
        customer_context=torch.randn(b, CUSTOMER_DIM, generator=g),
        product_embeddings=torch.randn(b, s, PRODUCT_DIM, generator=g) * pad,
        temporal_context=torch.randn(b, TEMPORAL_DIM, generator=g),
        price_features=torch.randn(b, s, PRICE_DIM, generator=g) * pad,
        store_context=torch.randn(b, STORE_DIM, generator=g),
        trip_context=torch.zeros(b, TRIP_DIM),
        attention_mask=attention,
        product_ids=ids,
        masked_positions=positions,
        masked_targets=targets,
        auxiliary_labels={
            "mission_type": torch.tensor([0, 1, 2, -100, 0, 1])[:b],
            "mission_focus": torch.tensor([3, -100, 2, 1, 0, 0])[:b],
            "price_sensitivity": torch.tensor([0, 2, 1, 1, -100, 2])[:b],
            "basket_size": torch.full((b,), -100),  # no label in this batch
        },
        history_ids=history_ids,
        history_features=torch.rand(b, K, N_FEATURES, generator=g) * history_mask.unsqueeze(-1),
        history_mask=history_mask,
        basket_id=torch.arange(b),
        week=torch.ones(b, dtype=torch.int64),
    )


def test_presets_and_overrides():
    assert resolve_dims(ModelConfig(preset="tiny")).d_model == 64
    assert resolve_dims(ModelConfig(preset="base")).n_layers == 6
    dims = resolve_dims(ModelConfig(preset="tiny", d_model=32, n_heads=2))
    assert (dims.d_model, dims.n_heads, dims.n_layers) == (32, 2, 2)


def test_output_shapes_and_special_ids_excluded():
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(preset="tiny"), n_products=V).eval()
    out = model(fake_batch())
    assert out["item_logits"].shape == (6, 2, V)
    assert (out["item_logits"][..., :3] == EXCLUDED_LOGIT).all()
    assert out["aux_mission_type"].shape == (6, 3) and out["aux_mission_focus"].shape == (6, 4)


def test_padding_does_not_change_outputs():
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(preset="tiny"), n_products=V).eval()
    batch = fake_batch(s=7)
    longer = fake_batch(s=7)
    grow = 3  # append 3 PAD positions to every basket
    for name in ("product_embeddings", "price_features"):
        t = getattr(longer, name)
        setattr(longer, name, torch.cat([t, torch.randn(t.shape[0], grow, t.shape[2]) * 0], dim=1))
    longer.attention_mask = torch.cat([batch.attention_mask, torch.zeros(6, grow, dtype=torch.bool)], dim=1)
    longer.product_ids = torch.cat([batch.product_ids, torch.zeros(6, grow, dtype=torch.int64)], dim=1)
    a, b = model(batch), model(longer)
    torch.testing.assert_close(a["item_logits"], b["item_logits"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(a["aux_mission_type"], b["aux_mission_type"], rtol=1e-4, atol=1e-4)


def test_loss_is_masked_ce_plus_weighted_aux_and_ignores_minus_100():
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(preset="tiny"), n_products=V).eval()
    batch = fake_batch()
    out = model(batch)
    weights = auxiliary_weights(AuxiliaryConfig())
    assert weights == {"mission_type": 0.1, "mission_focus": 0.1, "price_sensitivity": 0.05, "basket_size": 0.05}
    loss, parts = world_model_loss(out, batch, weights)
    # by hand: item CE over the 9 real masked positions, aux CE over labelled baskets only
    valid = batch.masked_targets >= 0
    item = torch.nn.functional.cross_entropy(out["item_logits"][valid], batch.masked_targets[valid])
    expected = item
    for task, w in [("mission_type", 0.1), ("mission_focus", 0.1), ("price_sensitivity", 0.05)]:
        labels = batch.auxiliary_labels[task]
        keep = labels >= 0
        expected = expected + w * torch.nn.functional.cross_entropy(out[f"aux_{task}"][keep], labels[keep])
    torch.testing.assert_close(loss, expected)
    assert int(parts["item_count"]) == 9 and int(parts["basket_size_count"]) == 0
    assert torch.isfinite(loss)


def test_aux_heads_get_no_gradient_from_ignored_labels():
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(preset="tiny"), n_products=V)
    batch = fake_batch()
    loss, _ = world_model_loss(model(batch), batch, auxiliary_weights(AuxiliaryConfig()))
    loss.backward()
    # basket_size is -100 everywhere: its head has exactly zero gradient; labelled heads do not
    assert model.auxiliary_heads["basket_size"].weight.grad.abs().sum() == 0
    assert model.auxiliary_heads["mission_type"].weight.grad.abs().sum() > 0
    # a task switched off (flag or weight 0) has no loss term
    off = auxiliary_weights(AuxiliaryConfig(mission_type_enabled=False, mission_focus=0.0))
    assert set(off) == {"price_sensitivity", "basket_size"}
    assert auxiliary_weights(AuxiliaryConfig(enabled=False)) == {}


def test_learned_product_input_starts_from_cache_embeddings():
    table = torch.randn(V, PRODUCT_DIM)
    pos = torch.randn(50, PRODUCT_DIM)
    model = WorldModel(ModelConfig(preset="tiny", product_input="learned", item_head="tied"), n_products=V,
                       product_embeddings=table, positional_encodings=pos)
    assert torch.equal(model.product_embedding.weight.detach(), table)
    assert model.product_embedding.weight.requires_grad
    # tied head: the output table is the same (trainable) embedding
    h = torch.randn(3, model.dims.d_model)
    expected = model.item_query(h) @ model.product_embedding.weight.T + model.item_bias
    torch.testing.assert_close(model.item_scores(h), expected)
    out = model(fake_batch())
    assert out["item_logits"].shape == (6, 2, V)


@pytest.mark.parametrize("product_input,item_head", [("cache", "tied"), ("learned", "tied"), ("cache", "linear")])
def test_loss_decreases_on_a_fixed_batch(product_input, item_head):
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(preset="tiny", dropout=0.0, product_input=product_input, item_head=item_head),
                       n_products=V, product_embeddings=torch.randn(V, PRODUCT_DIM))
    batch = fake_batch(b=6, s=8)
    weights = auxiliary_weights(AuxiliaryConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss, _ = world_model_loss(model(batch), batch, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses[::10]


def test_bf16_autocast_gives_float32_logits_and_a_finite_loss():
    """The CUDA path runs under bf16 autocast; CPU autocast exercises the same casts here."""
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(preset="tiny"), n_products=V)
    batch = fake_batch()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(batch)
        loss, _ = world_model_loss(out, batch, auxiliary_weights(AuxiliaryConfig()))
    assert out["item_logits"].dtype == torch.float32 and out["aux_mission_type"].dtype == torch.float32
    assert (out["item_logits"][..., :3] == EXCLUDED_LOGIT).all()
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
