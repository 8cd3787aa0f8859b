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

# What DynamicSampling reads in TRL 1.15.0 (trl/trainer/grpo_trainer.py, trl/trainer/utils.py): a digest of each source. A new
# TRL that changes one fails here by name, even where names and signatures stay (the runtime guard catches only those).
TRL_SOURCES = {
    'GRPOTrainer._generate_and_score_completions': '1fa48922792dcd5c',   # rounds, rewards, advantages, TRL's metrics
    'GRPOTrainer._calculate_rewards': '736ae29b083840b5',                # rewards of every process, gathered
    'GRPOTrainer._prepare_inputs': 'f824e7fb07147956',                   # the generation schedule (_step)
    'GRPOTrainer._compute_loss': '80295546bbdbf6f7',                     # what a joined batch must hold (masks, KL, normalisers)
    'GRPOTrainer.log': '1e7772819cc8cf09',                               # _metrics averaged per log
    'GRPOTrainer.training_step': '9e18632f7dd8e8d8',                     # _step counted per micro-batch
    'split_pixel_values_by_grid': '3aca66e33a7978d3',
    'unsplit_pixel_values_by_grid': '9d31b407fc5f4399',
    'nanstd': '081b874388d813a0',
}

def test_trl_is_the_version_read():
    "Each TRL function the hook was read against is unchanged; otherwise re-read it and update nbs/18c_sampling.ipynb."
    import trl, trl.trainer.grpo_trainer as g, trl.trainer.utils as u
    def digest(name):
        obj = g.GRPOTrainer if name.startswith('GRPOTrainer.') else u
        return hashlib.sha256(inspect.getsource(getattr(obj, name.split('.')[-1])).encode()).hexdigest()[:16]
    changed = [n for n, h in TRL_SOURCES.items() if digest(n) != h]
    assert not changed, f"trl {trl.__version__}: changed since 1.15.0: {changed}; re-read them against DynamicSampling"

def test_guard_refuses_another_trl(monkeypatch):
    "The runtime guard names the installed version, the version read, and a changed private signature."
    import trl
    from rft_nb.sampling import grpo_trainer_class
    grpo_trainer_class()                                   # the installed TRL passes
    monkeypatch.setattr(trl, '__version__', '1.16.0')
    with pytest.raises(RuntimeError, match=r'trl 1\.16\.0 is installed; DynamicSampling was read against trl 1\.15'):
        grpo_trainer_class()
    monkeypatch.undo()
    class Renamed(trl.GRPOTrainer):
        def _calculate_rewards(self, inputs, prompts, completions): ...
    with pytest.raises(RuntimeError, match=r'_calculate_rewards\(self, inputs, prompts, completions\) \(read: '):
        grpo_trainer_class(Renamed)
