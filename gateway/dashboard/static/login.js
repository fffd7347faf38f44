"use strict";
// Logs in with JSON (the gateway takes no form posts) and goes to the dashboard.
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  try {
    const response = await fetch("/api/login", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({
        name: document.getElementById("name").value,
        password: document.getElementById("password").value,
      }),
    });
    if (response.ok) {
      window.location.assign("/");
      return;
    }
    const body = await response.json().catch(() => ({}));
    error.textContent = body.error || "log in failed (" + response.status + ")";
  } catch (e) {
    error.textContent = "the gateway does not answer";
  }
});
