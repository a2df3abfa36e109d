# %% [markdown]
# # Deploy a model from Python and look at the results with pandas
#
# The notebook version of `testbed deploy --device local --model digits_cnn`: every variant of the zoo's
# digits CNN (ExecuTorch, ONNX and TFLite from PyTorch and Keras, fp32 and quantized, and the framework
# baselines) converted, measured on this machine and stored; then the table in pandas, the fastest variant
# of each format, and the run read back from the store by its id.
#
# Open it as a notebook (VS Code, or `jupytext --to notebook`: the `# %%` lines are cells) or run it as a
# script: `.venv/bin/python examples/notebook_deploy.py` (a few minutes on a laptop; the tools' own output
# goes to `$TESTBED_HOME/logs/tools.log`, progress to stderr).

# %%
import testbed

MODEL, DEVICE = "digits_cnn", "local"  # a zoo id (`testbed models`) or a model file; a profile id or file

# formats=["onnx", "tflite"], quantization="fp32", preset="quick", ...: the flags of `testbed deploy`
run = testbed.deploy(model=MODEL, device=DEVICE)
print(run)  # a notebook shows it as a table when it is a cell's last line

# %% [markdown]
# ## The table: one row per variant, units in the column names

# %%
table = run.to_pandas()
print(table[["variant", "runtime", "p50_ms", "ci_pct", "p99_ms", "size_bytes", "model_memory_mb",
             "accuracy", "agreement"]].to_string(index=False))

# %% [markdown]
# ## The fastest variant of each format
#
# Only the variants that ran (`status == "ok"`): a failed one has no figures, and its `error` says why.

# %%
ok = table[table["status"] == "ok"]
fastest = ok.loc[ok.groupby("format")["p50_ms"].idxmin(),
                 ["format", "variant", "runtime", "p50_ms", "ci_pct", "size_bytes"]].sort_values("p50_ms")
print(fastest.to_string(index=False))
failed = table[table["status"] != "ok"]
for _, row in failed.iterrows():
    print(f"{row['variant']}: {row['status']}: {row['error']}")

# %% [markdown]
# ## Read the run back from the store
#
# `testbed.results(run_id)` gives the same typed results for any stored run (`testbed runs`, or
# `testbed.runs()`, lists them), in a later session too. Each row keeps its whole record and its raw
# latency samples.

# %%
for summary in testbed.runs(limit=3):
    print(summary.run_id, summary.kind, summary.status, ", ".join(summary.models), "on", ", ".join(summary.devices))
again = testbed.results(run.run_id)
best = again.variant(fastest["variant"].iloc[0])
samples = best.samples_ms()
print(f"{best.variant}: {samples.size} timed runs, median {best.p50_ms:.4g} ms (95 % CI {best.ci_low_ms:.4g}.."
      f"{best.ci_high_ms:.4g}), slowest {samples.max():.4g} ms; measured by {best.runtime} {best.runtime_version}")
