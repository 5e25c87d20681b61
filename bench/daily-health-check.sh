#!/bin/bash
# daily-health-check.sh from the runbook's Morning Health Check, pointed at the demo
# stack: its compose project and file, and its health URLs on 127.0.0.1. The commands
# and their order are the runbook's; only the names and ports come from the environment.
#
#   COMPOSE_FILE   the demo's docker-compose.yml (required)
#   PROJECT        compose project name (default: taskmanagement)
#   BACKEND_URL    backend health URL (default: http://localhost:5000/api/health)
#   FRONTEND_URL   frontend health URL (default: http://localhost:3000/api/health)
#   DOCKER_HOST    the engine that runs the demo, as for every Docker client

: "${COMPOSE_FILE:?set COMPOSE_FILE to the docker-compose.yml of the demo stack}"
PROJECT="${PROJECT:-taskmanagement}"
BACKEND_URL="${BACKEND_URL:-http://localhost:5000/api/health}"
FRONTEND_URL="${FRONTEND_URL:-http://localhost:3000/api/health}"
compose() {
    docker-compose -p "$PROJECT" -f "$COMPOSE_FILE" "$@"
}

echo "=== Daily Health Check - $(date) ==="

# 1. Check all services are running
echo -e "\n1. Service Status:"
compose ps

# 2. Verify health endpoints
echo -e "\n2. Health Endpoints:"
curl -s "$BACKEND_URL" | jq
curl -s "$FRONTEND_URL" | jq

# 3. Check resource usage
echo -e "\n3. Resource Usage:"
docker stats --no-stream --format "table {{.Container}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}"

# 4. Check disk space
echo -e "\n4. Disk Space:"
docker system df

# 5. Check recent errors
echo -e "\n5. Recent Errors (last 24h):"
compose logs --since 24h | grep -i -E "(error|fatal|exception)" | tail -20

# 6. Database health
echo -e "\n6. Database Health:"
compose exec -T db pg_isready -U taskuser
compose exec -T db psql -U taskuser -d taskdb -c "SELECT count(*) as active_connections FROM pg_stat_activity;"

echo -e "\n=== Health Check Complete ==="
