"""Golden vectors: frames.json, frames_plain.json and the script that writes them."""
