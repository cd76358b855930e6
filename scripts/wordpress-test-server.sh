#!/bin/sh
# A real WordPress (Debian's package) on loopback for feedrelay's integration tests.
#
#   scripts/wordpress-test-server.sh start   install (if needed), create the site, serve it
#   scripts/wordpress-test-server.sh stop    stop the server and drop the site's database
#
# Settings (environment):
#   WP_TEST_DIR   site directory (docroot, logs, env file)  default /tmp/feedrelay-wp-$(id -u)
#   WP_TEST_PORT  port on 127.0.0.1                         default: a free ephemeral port
#   WP_TEST_DB    MariaDB database name                     default: derived from WP_TEST_DIR
#   WP_TEST_ENV   where to write WP_URL, WP_USER, WP_APP_PASSWORD  default $WP_TEST_DIR/env
#   WP_TEST_PRETTY_PERMALINKS=1  serve /wp-json/ too (default: only ?rest_route=)
#   MARIADB_HOST / MARIADB_PORT / MARIADB_USER  default 127.0.0.1 / 3306 / root (empty password)
#
# `start` prints the env file's contents (shell syntax) and is idempotent: a running site is
# reused. Packages are installed with apt (root only) when missing; Apache is kept out.
set -eu

WP_TEST_DIR=${WP_TEST_DIR:-/tmp/feedrelay-wp-$(id -u)}
WP_TEST_ENV=${WP_TEST_ENV:-$WP_TEST_DIR/env}
MARIADB_HOST=${MARIADB_HOST:-127.0.0.1}
MARIADB_PORT=${MARIADB_PORT:-3306}
MARIADB_USER=${MARIADB_USER:-root}
WORDPRESS=/usr/share/wordpress
PACKAGES="wordpress wordpress-theme-twentytwentythree php php-cli php-mysql php-gd php-xml php-mbstring php-curl php8.2-cgi mini-httpd curl"

db_name() {
    if [ -n "${WP_TEST_DB:-}" ]; then echo "$WP_TEST_DB"; return; fi
    echo "feedrelay_wp_$(printf '%s' "$WP_TEST_DIR" | md5sum | cut -c1-10)"
}

sql() {
    mariadb --no-defaults --protocol=TCP -h"$MARIADB_HOST" -P"$MARIADB_PORT" -u"$MARIADB_USER" -e "$1"
}

install_packages() {
    if [ -f "$WORDPRESS/wp-settings.php" ] && command -v php >/dev/null && php -m | grep -qi mysqli; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "WordPress/PHP are not installed; run as root or: apt-get install $PACKAGES" >&2
        exit 3
    fi
    # php + php8.2-cgi + mini-httpd satisfy wordpress's web server dependency without Apache.
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=300 $PACKAGES >&2
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() {
    [ -f "$WP_TEST_DIR/pgid" ] && kill -0 "$(cat "$WP_TEST_DIR/pgid")" 2>/dev/null
}

make_docroot() {
    docroot=$WP_TEST_DIR/docroot
    mkdir -p "$docroot/wp-content/uploads"
    for path in "$WORDPRESS"/* "$WORDPRESS"/wp-content/*; do
        name=${path#"$WORDPRESS"/}
        case $name in
            wp-config.php|wp-content) continue ;;
        esac
        [ -e "$docroot/$name" ] || ln -s "$path" "$docroot/$name"
    done
    cat > "$docroot/wp-config.php" <<EOF
<?php
define('DB_NAME', '$1');
define('DB_USER', '$MARIADB_USER');
define('DB_PASSWORD', '');
define('DB_HOST', '$MARIADB_HOST:$MARIADB_PORT');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_HOME', '$2');
define('WP_SITEURL', '$2');
define('WP_CONTENT_DIR', '$docroot/wp-content');
define('WP_CONTENT_URL', '$2/wp-content');
define('WP_ENVIRONMENT_TYPE', 'local');
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);
define('WP_DEBUG', false);
define('AUTH_KEY', '$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')');
define('SECURE_AUTH_KEY', '$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')');
define('LOGGED_IN_KEY', '$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')');
define('NONCE_KEY', '$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')');
\$table_prefix = 'wp_';
require_once ABSPATH . 'wp-settings.php';
EOF
    # php -S router: the docroot is symlinks, and PHP resolves them in __DIR__, so ABSPATH must
    # point at the docroot (where our wp-config.php is) before WordPress's own scripts run.
    cat > "$WP_TEST_DIR/router.php" <<EOF
<?php
\$docroot = '$docroot';
\$path = rawurldecode(parse_url(\$_SERVER['REQUEST_URI'], PHP_URL_PATH) ?: '/');
if (strpos(\$path, '..') !== false) { http_response_code(400); return true; }
if (\$path === '/wp-cron.php') { return true; }
\$file = \$docroot . \$path;
if (is_dir(\$file)) { \$file = rtrim(\$file, '/') . '/index.php'; }
if (is_file(\$file) && substr(\$file, -4) !== '.php') { return false; }
if (!is_file(\$file)) { \$file = \$docroot . '/index.php'; }
if (!preg_match('#wp-admin/load-(styles|scripts)\\.php\$#', \$file)) { define('ABSPATH', \$docroot . '/'); }
\$_SERVER['SCRIPT_FILENAME'] = \$file;
\$_SERVER['SCRIPT_NAME'] = \$_SERVER['PHP_SELF'] = substr(\$file, strlen(\$docroot));
chdir(dirname(\$file));
require \$file;
EOF
}

install_site() {
    cat > "$WP_TEST_DIR/install.php" <<EOF
<?php
define('WP_INSTALLING', true);
define('ABSPATH', '$WP_TEST_DIR/docroot/');
\$_SERVER['HTTP_HOST'] = '127.0.0.1:$2';
\$_SERVER['REQUEST_URI'] = '/';
function wp_new_blog_notification() {}
require ABSPATH . 'wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
add_filter('pre_http_request', function () { return new WP_Error('offline', 'no HTTP during install'); });
if (!is_blog_installed()) {
    wp_install('feedrelay test site', 'admin', 'admin@example.com', true, '', wp_generate_password(24));
}
update_option('timezone_string', 'UTC');
update_option('ping_sites', '');
update_option('default_pingback_flag', 0);
update_option('default_ping_status', 'closed');
update_option('rss_use_excerpt', 0);
update_option('posts_per_rss', 50);
update_option('permalink_structure', '$1' === '1' ? '/%postname%/' : '');
\$user = get_user_by('login', 'admin');
list(\$password) = WP_Application_Passwords::create_new_application_password(\$user->ID, array('name' => 'feedrelay-tests-' . time()));
echo \$password;
EOF
    php -d display_errors=stderr "$WP_TEST_DIR/install.php"
}

start() {
    if running && [ -f "$WP_TEST_ENV" ]; then
        cat "$WP_TEST_ENV"
        return
    fi
    install_packages
    mkdir -p "$WP_TEST_DIR"
    port=${WP_TEST_PORT:-$(free_port)}
    url=http://127.0.0.1:$port
    db=$(db_name)
    sql "SELECT 1" >/dev/null || { echo "MariaDB is not reachable at $MARIADB_HOST:$MARIADB_PORT" >&2; exit 4; }
    sql "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4"
    make_docroot "$db" "$url"
    password=$(install_site "${WP_TEST_PRETTY_PERMALINKS:-0}" "$port")
    WP_ENVIRONMENT_TYPE=local PHP_CLI_SERVER_WORKERS=4 setsid php -d upload_max_filesize=64M \
        -d post_max_size=64M -d max_execution_time=120 -d display_errors=0 \
        -S "127.0.0.1:$port" -t "$WP_TEST_DIR/docroot" "$WP_TEST_DIR/router.php" \
        >"$WP_TEST_DIR/server.log" 2>&1 </dev/null &
    echo $! > "$WP_TEST_DIR/pgid"
    tries=0
    until curl -fsS -o /dev/null "$url/?rest_route=/" 2>/dev/null; do
        tries=$((tries + 1))
        if [ $tries -gt 100 ] || ! running; then
            echo "WordPress did not start; see $WP_TEST_DIR/server.log" >&2
            tail -20 "$WP_TEST_DIR/server.log" >&2
            exit 5
        fi
        sleep 0.1
    done
    curl -fsS -o /dev/null -u "admin:$password" "$url/?rest_route=/wp/v2/users/me&context=edit" || {
        echo "the Application Password was not accepted" >&2; exit 6; }
    mkdir -p "$(dirname "$WP_TEST_ENV")"
    printf "WP_URL=%s\nWP_USER=admin\nWP_APP_PASSWORD='%s'\nWP_TEST_DB=%s\n" "$url" "$password" "$db" > "$WP_TEST_ENV"
    cat "$WP_TEST_ENV"
}

stop() {
    if running; then
        pgid=$(cat "$WP_TEST_DIR/pgid")
        kill -TERM "-$pgid" 2>/dev/null || true
        tries=0
        while kill -0 "-$pgid" 2>/dev/null && [ $tries -lt 50 ]; do
            tries=$((tries + 1))
            sleep 0.1
        done
        kill -KILL "-$pgid" 2>/dev/null || true
    fi
    rm -f "$WP_TEST_DIR/pgid" "$WP_TEST_ENV"
    sql "DROP DATABASE IF EXISTS \`$(db_name)\`" || true
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
