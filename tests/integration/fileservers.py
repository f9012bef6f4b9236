"""Real SFTP (OpenSSH sshd, internal-sftp) and FTP (vsftpd) servers on
127.0.0.1 for the file.put / file.get tests, each on a free port with a
generated configuration in a temporary folder, stopped by stop().

Both serve one local user created for the run (useradd; removed by
remove_user) with a password and, for SFTP, an authorised key. Needs root:
sshd must run as root, and vsftpd logs local users in through PAM.
"""
import os
import shutil
import socket
import subprocess
import time

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
VSFTPD = shutil.which("vsftpd") or "/usr/sbin/vsftpd"


def have_sshd():
    return os.access(SSHD, os.X_OK) and shutil.which("ssh-keygen") is not None


def have_vsftpd():
    return os.access(VSFTPD, os.X_OK)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, log, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n"
                               + open(log, errors="replace").read()[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen:\n" + open(log, errors="replace").read()[-2000:])


def keygen(path, kind="ecdsa"):
    """A key pair in PEM form (libssh2 reads it); returns the public line."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-m", "PEM", "-N", "",
                    "-C", "clerk-test", "-f", path], check=True,
                   stdout=subprocess.DEVNULL)
    with open(path + ".pub") as f:
        return f.read().strip()


class User:
    """A throw-away local account with its home in a temp folder."""

    def __init__(self, home, password):
        self.name = f"clerkt{os.getpid() % 100000}"
        self.home = home
        self.password = password
        subprocess.run(["userdel", self.name], stderr=subprocess.DEVNULL)
        subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh",
                        self.name], check=True)
        subprocess.run(["chpasswd"], input=f"{self.name}:{password}\n",
                       text=True, check=True)
        os.makedirs(home, exist_ok=True)
        out = subprocess.run(["id", "-u", self.name], capture_output=True,
                             text=True, check=True)
        self.uid = int(out.stdout)
        self.gid = int(subprocess.run(["id", "-g", self.name], capture_output=True,
                                      text=True, check=True).stdout)

    def mkdir(self, rel):
        path = os.path.join(self.home, rel)
        os.makedirs(path, exist_ok=True)
        os.chown(path, self.uid, self.gid)
        return path

    def remove(self):
        subprocess.run(["userdel", self.name], stderr=subprocess.DEVNULL)


class Sshd:
    def __init__(self, tmp, user, authorized_key):
        self.tmp = tmp
        self.port = free_port()
        self.hostkey = os.path.join(tmp, "ssh_host_ecdsa_key")
        self.hostpub = keygen(self.hostkey)
        auth = os.path.join(tmp, "authorized_keys")
        with open(auth, "w") as f:
            f.write(authorized_key + "\n")
        os.chmod(auth, 0o644)
        self.conf = os.path.join(tmp, "sshd_config")
        self.log = os.path.join(tmp, "sshd.log")
        with open(self.conf, "w") as f:
            f.write(f"""ListenAddress 127.0.0.1
HostKey {self.hostkey}
PidFile none
UsePAM no
PermitRootLogin no
AllowUsers {user.name}
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile {auth}
StrictModes no
MaxAuthTries 3
Subsystem sftp internal-sftp
LogLevel ERROR
""")
        # sshd refuses to start without its privilege-separation folder.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.conf, "-p",
                                      str(self.port), "-h", self.hostkey],
                                     stdout=logf, stderr=logf)
        logf.close()
        wait_port(self.port, self.proc, self.log)

    def known_hosts_line(self):
        kind, key = self.hostpub.split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Vsftpd:
    def __init__(self, tmp):
        self.port = free_port()
        pasv = free_port()
        empty = os.path.join(tmp, "vsftpd-empty")
        os.makedirs(empty, exist_ok=True)
        os.chmod(empty, 0o755)
        self.conf = os.path.join(tmp, "vsftpd.conf")
        self.log = os.path.join(tmp, "vsftpd.log")
        with open(self.conf, "w") as f:
            f.write(f"""listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={self.port}
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port={pasv}
pasv_max_port={min(pasv + 20, 65535)}
connect_from_port_20=NO
seccomp_sandbox=NO
secure_chroot_dir={empty}
pam_service_name=vsftpd
userlist_enable=NO
xferlog_enable=YES
vsftpd_log_file={self.log}
""")
        os.chmod(self.conf, 0o600)
        logf = open(self.log + ".out", "ab")
        self.proc = subprocess.Popen([VSFTPD, self.conf], stdout=logf,
                                     stderr=logf)
        logf.close()
        wait_port(self.port, self.proc, self.log + ".out")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
