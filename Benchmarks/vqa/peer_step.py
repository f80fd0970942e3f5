"""One VQA training iteration in a peer framework: median seconds and peak resident memory.

    <venv>/bin/python Benchmarks/vqa/peer_step.py --framework pytorch --size 64 [--iterations 20 --warmup 5]

The model of Benchmarks/vqa/pytorch_reference.py, built idiomatically in each framework, on
synthetic inputs of fixed shapes (batch 32): images 3×N×N uniform in [0, 1), questions of 12
token ids below 1000, 13 answers. One iteration = forward + softmax cross-entropy + backward +
Adam (lr 1e-3) update, finished (synchronised) before the clock stops.

  pytorch           eager nn.Module, torch.optim.Adam
  pytorch-compile   the same with torch.compile(model) (graph breaks at the LSTM; compiling
                    happens during the warm-up iterations)
  keras             Keras 3 on TensorFlow, compile() (jit_compile=False) + train_on_batch
  jax               Flax linen + Optax, the whole step under jax.jit
  mxnet             Gluon HybridBlock, hybridize(static_alloc=True, static_shape=True)

Two threads everywhere: the thread variables are set before the framework is imported, then
each framework's own knob (see set_threads). XLA has no intra-op thread setting, so for jax the
process is pinned to two CPUs when the machine has more. Only the chosen framework is imported,
so each runs from its own venv. Prints one JSON line: framework, mode, version, size,
seconds_per_iteration, peak_rss_mib, threads, iterations, warmup.
"""
import argparse
import json
import os
import resource
import statistics
import time

THREADS = 2
BATCH, LENGTH, VOCAB, EMBED, HIDDEN, ANSWERS = 32, 12, 1000, 128, 256, 13
FRAMEWORKS = ("pytorch", "pytorch-compile", "keras", "jax", "mxnet")


def set_threads(framework):
    """Environment for two threads; must run before the framework is imported."""
    os.environ.pop("OPENBLAS_CORETYPE", None)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "MXNET_CPU_WORKER_NTHREADS"):
        os.environ[var] = str(THREADS)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if framework == "jax":
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > THREADS:
            os.sched_setaffinity(0, cpus[:THREADS])


def synthetic_batch(size, channels_last):
    import numpy as np
    rng = np.random.default_rng(0)
    shape = (BATCH, size, size, 3) if channels_last else (BATCH, 3, size, size)
    images = rng.random(shape, dtype=np.float32)
    tokens = rng.integers(0, VOCAB, (BATCH, LENGTH), dtype=np.int32)
    labels = rng.integers(0, ANSWERS, (BATCH,), dtype=np.int32)
    return images, tokens, labels


def pytorch(size, compiled):
    import torch
    from torch import nn
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)

    class VQA(nn.Module):
        def __init__(self):
            super().__init__()
            self.image = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(128 * (size // 8) ** 2, HIDDEN), nn.ReLU())
            self.embedding = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.head = nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, ANSWERS))

        def forward(self, images, tokens):
            _, (h, _) = self.lstm(self.embedding(tokens))
            return self.head(self.image(images) * h[-1])

    model = VQA()
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    images, tokens, labels = (torch.from_numpy(a) for a in synthetic_batch(size, False))
    tokens, labels = tokens.long(), labels.long()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(forward(images, tokens), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    mode = "torch.compile(model)" if compiled else "eager"
    return step, mode, f"torch {torch.__version__}"


def keras_tf(size):
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from keras import layers
    keras.utils.set_random_seed(0)

    image = keras.Input((size, size, 3))
    question = keras.Input((LENGTH,), dtype="int32")
    x = image
    for channels in (32, 64, 128):
        x = layers.Conv2D(channels, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Dense(HIDDEN, activation="relu")(layers.Flatten()(x))
    h = layers.LSTM(HIDDEN)(layers.Embedding(VOCAB, EMBED)(question))
    y = layers.Dense(HIDDEN, activation="relu")(layers.Multiply()([x, h]))
    model = keras.Model([image, question], layers.Dense(ANSWERS)(y))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images, tokens, labels = synthetic_batch(size, True)

    def step():
        return model.train_on_batch([images, tokens], labels)

    return step, "train_on_batch (tf.function, no XLA)", f"keras {keras.__version__}, tensorflow {tf.__version__}"


def jax_flax(size):
    import jax
    import jax.numpy as jnp
    import flax
    import flax.linen as nn
    import optax

    class VQA(nn.Module):
        @nn.compact
        def __call__(self, images, tokens):
            x = images
            for channels in (32, 64, 128):
                x = nn.relu(nn.Conv(channels, (3, 3), padding="SAME")(x))
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            x = nn.relu(nn.Dense(HIDDEN)(x.reshape((x.shape[0], -1))))
            (_, h), _ = nn.RNN(nn.OptimizedLSTMCell(HIDDEN), return_carry=True)(nn.Embed(VOCAB, EMBED)(tokens))
            return nn.Dense(ANSWERS)(nn.relu(nn.Dense(HIDDEN)(x * h)))

    model = VQA()
    images, tokens, labels = (jnp.asarray(a) for a in synthetic_batch(size, True))
    params = model.init(jax.random.PRNGKey(0), images, tokens)["params"]
    optimizer = optax.adam(1e-3)
    state = [params, optimizer.init(params)]

    @jax.jit
    def train_step(params, opt_state, images, tokens, labels):
        def loss_fn(p):
            logits = model.apply({"params": p}, images, tokens)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def step():
        state[0], state[1], loss = train_step(state[0], state[1], images, tokens, labels)
        return float(loss)  # waits for the result

    version = f"jax {jax.__version__}, flax {flax.__version__}, optax {optax.__version__}"
    return step, "flax.linen + optax, jax.jit(train step)", version


def mxnet_gluon(size):
    import mxnet as mx
    from mxnet import autograd, gluon
    from mxnet.gluon import nn
    mx.random.seed(0)

    class VQA(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.image = nn.HybridSequential()
                for channels in (32, 64, 128):
                    self.image.add(nn.Conv2D(channels, 3, padding=1, activation="relu"), nn.MaxPool2D(2))
                self.image.add(nn.Dense(HIDDEN, activation="relu"))  # Dense flattens
                self.embedding = nn.Embedding(VOCAB, EMBED)
                self.lstm = gluon.rnn.LSTM(HIDDEN, layout="NTC")
                self.hidden = nn.Dense(HIDDEN, activation="relu")
                self.out = nn.Dense(ANSWERS)

        def hybrid_forward(self, F, images, tokens):
            outputs = self.lstm(self.embedding(tokens))  # last output = last hidden state
            h = F.squeeze(F.slice_axis(outputs, axis=1, begin=-1, end=None), axis=1)
            return self.out(self.hidden(self.image(images) * h))

    net = VQA()
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    images, tokens, labels = (mx.nd.array(a) for a in synthetic_batch(size, False))

    def step():
        with autograd.record():
            loss = loss_fn(net(images, tokens), labels)
        loss.backward()
        trainer.step(BATCH)  # gradient of the summed loss / batch = mean loss
        return loss.mean().asscalar()  # waits for the engine

    return step, "gluon hybridize(static_alloc, static_shape)", f"mxnet {mx.__version__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=FRAMEWORKS, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    set_threads(args.framework)
    step, mode, version = {
        "pytorch": lambda s: pytorch(s, compiled=False),
        "pytorch-compile": lambda s: pytorch(s, compiled=True),
        "keras": keras_tf,
        "jax": jax_flax,
        "mxnet": mxnet_gluon,
    }[args.framework](args.size)

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)

    print(json.dumps({
        "framework": args.framework,
        "mode": mode,
        "version": version,
        "size": args.size,
        "seconds_per_iteration": round(statistics.median(times), 5),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": THREADS,
        "iterations": args.iterations,
        "warmup": args.warmup,
    }), flush=True)


if __name__ == "__main__":
    main()
