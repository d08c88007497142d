"""openWakeWord's shared front-end (melspectrogram + speech embedding ONNX models), batched.

The runtime streams 1280-sample chunks: after chunk k it has mel frames 0..8k-4 of the whole
stream (behind 76 rows of ones it starts with) and embeds the last 76 of them. `stream_embeddings`
reproduces exactly that over a whole recording at once, so offline scores equal the Pi's scores.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

CHUNK = 1280            # samples per streaming step (80 ms)
HOP = 160               # samples per mel frame (10 ms)
MEL_BINS = 32
MEL_WINDOW = 76         # mel frames per embedding
MEL_PER_CHUNK = CHUNK // HOP
EMBEDDING_DIM = 96
# The runtime's first embeddings are meaningless (its mel buffer starts as ones); training windows skip
# them: a window's first chunk is the 10th, so a clip of (9 + n_frames) chunks yields one full window.
FIRST_CLEAN_CHUNK = 10


def resource_path(name: str) -> Path:
    """Path of a model file shipped inside the openwakeword 0.4.0 wheel."""
    import openwakeword
    return Path(openwakeword.__file__).parent / "resources" / "models" / name


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def clip_samples_for(n_frames: int) -> int:
    """Audio length (samples) whose last chunk closes exactly one clean window of n_frames embeddings."""
    return (FIRST_CLEAN_CHUNK - 1 + n_frames) * CHUNK


class FrontEnd:
    """The melspectrogram and embedding ONNX models, run in batches on all cores."""

    def __init__(self, n_threads: int | None = None,
                 melspec_path: str | Path | None = None, embedding_path: str | Path | None = None) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = n_threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        self.melspec_path = Path(melspec_path or resource_path("melspectrogram.onnx"))
        self.embedding_path = Path(embedding_path or resource_path("embedding_model.onnx"))
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self._melspec = ort.InferenceSession(str(self.melspec_path), options, providers=providers)
        self._embedding = ort.InferenceSession(str(self.embedding_path), options, providers=providers)
        self._initial_embeddings: np.ndarray | None = None

    def melspectrogram(self, audio_int16: np.ndarray) -> np.ndarray:
        """(b, n) or (n,) int16 -> (b, frames, 32) or (frames, 32) float32, scaled as the runtime does."""
        batch = audio_int16[None] if audio_int16.ndim == 1 else audio_int16
        spec = self._melspec.run(None, {"input": batch.astype(np.float32)})[0][:, 0]  # (b, frames, 32)
        spec = spec / 10 + 2  # openWakeWord's fixed transform toward the original TF front-end
        return spec[0] if audio_int16.ndim == 1 else spec

    def chunk_mels(self, clips_int16: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Mel frames as the streaming runtime computes them; (b, n) int16 -> (b, 8 * n_chunks - 3, 32).

        The runtime computes each chunk's 8 new frames from that chunk plus 480 samples before it, and the
        mel model's output for digital silence depends on what else is in its input, so frames are
        computed per chunk snippet, never over a whole clip.
        """
        n_clips = len(clips_int16)
        n_chunks = clips_int16.shape[1] // CHUNK
        first = self.melspectrogram(clips_int16[:, :CHUNK])  # the first chunk has no history: 5 frames
        if n_chunks == 1:
            return first
        snippet = CHUNK + 3 * HOP
        # Chunk k >= 2 reads samples [1280 k - 1760, 1280 k).
        snippets = np.lib.stride_tricks.sliding_window_view(clips_int16[:, CHUNK - 3 * HOP:], snippet, axis=1)
        snippets = snippets[:, ::CHUNK][:, : n_chunks - 1].reshape(-1, snippet)
        mels = np.empty((len(snippets), MEL_PER_CHUNK, MEL_BINS), dtype=np.float32)
        for start in range(0, len(snippets), batch_size):
            batch = np.ascontiguousarray(snippets[start:start + batch_size])
            mel = self.melspectrogram(batch)
            # The mel model floors its log at 80 dB below the loudest value of the whole batch: a snippet
            # with values under that floor (digital silence, a fade-in) must be computed alone, as the Pi does.
            floored = mel.min(axis=(1, 2)) <= mel.max() - 8.0 + 1e-4
            for row in np.flatnonzero(floored):
                mel[row] = self.melspectrogram(batch[row])
            mels[start:start + batch_size] = mel
        mels = mels.reshape(n_clips, (n_chunks - 1) * MEL_PER_CHUNK, MEL_BINS)
        return np.concatenate([first, mels], axis=1)

    def embed(self, mel_windows: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """(n, 76, 32) mel windows -> (n, 96) embeddings. The embedding model's activations grow with the batch
        (4,096 windows took 5.7 GB, 512 take 1.2 GB, as fast and with the same bytes), and onnxruntime keeps
        its peak allocation for the session's life: batches stay small."""
        out = np.empty((len(mel_windows), EMBEDDING_DIM), dtype=np.float32)
        for start in range(0, len(mel_windows), batch_size):
            batch = mel_windows[start:start + batch_size, :, :, None].astype(np.float32)
            out[start:start + batch_size] = self._embedding.run(None, {"input_1": batch})[0].reshape(-1, EMBEDDING_DIM)
        return out

    def initial_embeddings(self) -> np.ndarray:
        """The runtime's starting feature buffer: embeddings of 10 s of silence, (n, 96)."""
        if self._initial_embeddings is None:
            mel = self.melspectrogram(np.zeros(160000, dtype=np.int16))
            starts = range(0, len(mel) - MEL_WINDOW + 1, MEL_PER_CHUNK)
            self._initial_embeddings = self.embed(np.stack([mel[s:s + MEL_WINDOW] for s in starts]))
        return self._initial_embeddings

    def stream_embeddings(self, audio_int16: np.ndarray) -> np.ndarray:
        """One embedding per 80 ms chunk, exactly as the streaming runtime computes it; (n_chunks, 96)."""
        n_chunks = len(audio_int16) // CHUNK
        if n_chunks == 0:
            return np.empty((0, EMBEDDING_DIM), np.float32)
        mel = self.chunk_mels(audio_int16[None, : n_chunks * CHUNK])[0]
        padded = np.concatenate([np.ones((MEL_WINDOW, MEL_BINS), np.float32), mel])
        windows = np.lib.stride_tricks.sliding_window_view(padded, (MEL_WINDOW, MEL_BINS))[:, 0]
        # After chunk k the buffer holds 76 + 8k - 3 rows; the embedding reads the last 76.
        ends = MEL_WINDOW + MEL_PER_CHUNK * np.arange(1, n_chunks + 1) - 3
        return self.embed(windows[ends - MEL_WINDOW])

    def stream_windows(self, audio_int16: np.ndarray, n_frames: int = 16) -> np.ndarray:
        """The head's input after every chunk, as the runtime builds it; (n_chunks, n_frames, 96)."""
        embeddings = np.concatenate([self.initial_embeddings(), self.stream_embeddings(audio_int16)])
        windows = np.lib.stride_tricks.sliding_window_view(embeddings, (n_frames, EMBEDDING_DIM))[:, 0]
        n_chunks = len(audio_int16) // CHUNK
        return windows[len(windows) - n_chunks:]

    def clip_windows(self, clips_int16: np.ndarray, n_frames: int = 16, batch_size: int = 64) -> np.ndarray:
        """Training windows: clips (b, clip_samples_for(n_frames)) int16 -> (b, n_frames, 96) float32.

        Each window is what the runtime feeds the head right after the clip's last chunk.
        """
        expected = clip_samples_for(n_frames)
        if clips_int16.ndim != 2 or clips_int16.shape[1] != expected:
            raise ValueError(f"clips must be (b, {expected}) int16, got {clips_int16.shape}")
        chunks = np.arange(FIRST_CLEAN_CHUNK, FIRST_CLEAN_CHUNK + n_frames)
        starts = MEL_PER_CHUNK * chunks - 3 - MEL_WINDOW  # unpadded mel row where each chunk's window starts
        out = np.empty((len(clips_int16), n_frames, EMBEDDING_DIM), dtype=np.float32)
        for first in range(0, len(clips_int16), batch_size):
            mel = self.chunk_mels(clips_int16[first:first + batch_size])  # (b, frames, 32)
            windows = np.stack([mel[:, s:s + MEL_WINDOW] for s in starts], axis=1)  # (b, n_frames, 76, 32)
            embedded = self.embed(windows.reshape(-1, MEL_WINDOW, MEL_BINS))
            out[first:first + batch_size] = embedded.reshape(-1, n_frames, EMBEDDING_DIM)
        return out
