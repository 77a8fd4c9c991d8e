"""Evaluating a for_each over 1,000 keys (a local built with a for expression, one openai_file
they all train on, an output over every instance) takes under a second beyond parsing."""

import time
from pathlib import Path

from ftctl.engine.desired import Walk
from ftctl.lang.config import load_configuration
from ftctl.lang.values import UNKNOWN
from ftctl.lang.variables import variable_values

CONFIG = """\
variable "n" {
  default = 1000
}
locals {
  rates = { for i in range(var.n) : "lr-${i}" => (i + 1) / 100 }
}
resource "openai_file" "train" {
  file = "${path.module}/data/train.jsonl"
}
resource "openai_fine_tuning_job" "sweep" {
  for_each      = local.rates
  model         = "gpt-4o-mini"
  training_file = openai_file.train.id
  suffix        = "s-${each.key}"
  metadata      = { lr = tostring(each.value), key = each.key }
  method {
    type = "supervised"
    supervised {
      hyperparameters {
        n_epochs                 = 3
        learning_rate_multiplier = each.value
      }
    }
  }
}
output "models" {
  value = { for k, j in openai_fine_tuning_job.sweep : k => j.fine_tuned_model }
}
"""


def test_a_thousand_instances_evaluate_in_under_a_second(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"messages": []}\n')
    (tmp_path / "main.tf").write_text(CONFIG)
    configuration, problems = load_configuration(tmp_path)
    assert problems == []
    started = time.perf_counter()
    values, found = variable_values(configuration, [], {})
    walk = Walk(configuration, values, {}, 0)
    desired = {d.address: d for d in walk.run()}
    outputs = walk.outputs()
    seconds = time.perf_counter() - started
    assert found == [] and walk.problems == []
    assert len(desired) == 1001
    last = desired['openai_fine_tuning_job.sweep["lr-999"]'].arguments
    assert last["suffix"] == "s-lr-999" and last["metadata"] == {"lr": "10", "key": "lr-999"}
    assert last["method"]["supervised"]["hyperparameters"]["learning_rate_multiplier"] == 10
    assert len(outputs["models"]) == 1000 and outputs["models"]["lr-0"] is UNKNOWN
    assert seconds < 1.0, f"{seconds:.3f} s for 1,000 instances"
