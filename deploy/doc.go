// Package deploy holds the production deployment — docker-compose.yml,
// nginx.conf, .env.example and the backup and restore scripts — and the
// tests that check them against the code, the Dockerfile and the README
// (no Docker engine runs where the tests run).
package deploy
