//! Who holds a port we could not bind, as far as the OS shows it: on Linux, the LISTEN
//! socket's line in `/proc/net/tcp{,6}` gives its inode and owner uid (visible to every
//! user), `/proc/<pid>/fd` links name `socket:[inode]` for the process (readable for our
//! own processes, or all of them as root), `/proc/<pid>/comm` its command, `/etc/passwd`
//! the user's name. Elsewhere nothing is known and the message says so.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The program listening on a port, as far as the OS shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortOwner {
    /// Its process id (unknown when its descriptors are not ours to see).
    pub pid: Option<u32>,
    /// Its command name (`/proc/<pid>/comm`).
    pub command: Option<String>,
    /// The user it runs as.
    pub uid: Option<u32>,
    /// That user's name.
    pub user: Option<String>,
    /// True when that user is not the one running Cursor Bridge: someone else may be
    /// posing as the proxy to receive the local key and every prompt.
    pub other_user: bool,
}

impl std::fmt::Display for PortOwner {
    /// `python3 (pid 4242, user nobody)`, with what is unknown left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.command.as_deref().unwrap_or("a program"))?;
        let mut details = Vec::new();
        if let Some(pid) = self.pid {
            details.push(format!("pid {pid}"));
        }
        match (&self.user, self.uid) {
            (Some(name), _) => details.push(format!("user {name}")),
            (None, Some(uid)) => details.push(format!("uid {uid}")),
            (None, None) => {}
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

impl PortOwner {
    /// The warning for a port held by another user.
    pub fn impersonation_warning(&self) -> Option<&'static str> {
        self.other_user.then_some(
            "it belongs to another user of this computer: this may be an impersonation \
             attempt (a program posing as Cursor Bridge would receive your local key, your \
             prompts and the power to answer tool calls); do not point agents at this port",
        )
    }
}

/// Who listens on `ip:port` (or on the unspecified address with that port).
pub fn find(ip: IpAddr, port: u16) -> Option<PortOwner> {
    #[cfg(target_os = "linux")]
    {
        linux::find(ip, port)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (ip, port);
        None
    }
}

/// One LISTEN line of `/proc/net/tcp{,6}`: its inode and uid, when it is on `ip:port`.
fn listening_on(line: &str, ip: IpAddr, port: u16) -> Option<(u64, u32)> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    let (local, state, uid, inode) = (cols.get(1)?, cols.get(3)?, cols.get(7)?, cols.get(9)?);
    if *state != "0A" {
        return None;
    }
    let (addr, p) = local.split_once(':')?;
    if u16::from_str_radix(p, 16).ok()? != port {
        return None;
    }
    let addr = proc_addr(addr)?;
    let same = addr == ip
        || addr.is_unspecified()
        || ip.is_unspecified()
        || matches!((addr, ip), (IpAddr::V6(a), IpAddr::V4(b)) if a.to_ipv4_mapped() == Some(b));
    same.then_some((inode.parse().ok()?, uid.parse().ok()?))
}

/// The kernel prints an address as 32-bit words in host byte order.
fn proc_addr(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// The name of `uid` in a passwd file's text.
fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    pub(super) fn find(ip: IpAddr, port: u16) -> Option<PortOwner> {
        let (inode, uid) = ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .find_map(|t| t.lines().skip(1).find_map(|l| listening_on(l, ip, port)))?;
        let pid = pid_of_socket(inode);
        let command = pid.and_then(|p| {
            let c = std::fs::read_to_string(format!("/proc/{p}/comm")).ok()?;
            Some(c.trim().to_string())
        });
        let user = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|p| user_name(&p, uid));
        Some(PortOwner {
            pid,
            command,
            uid: Some(uid),
            user,
            other_user: own_uid().is_some_and(|me| me != uid),
        })
    }

    /// The process with a descriptor on `socket:[inode]`, among those we may look into.
    fn pid_of_socket(inode: u64) -> Option<u32> {
        let target = format!("socket:[{inode}]");
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(e.path().join("fd")).ok()?;
            fds.flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str())
                })
                .then_some(pid)
        })
    }

    /// Our real uid, from `/proc/self/status` (`Uid: real effective saved fs`).
    fn own_uid() -> Option<u32> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_listen_lines_of_proc_net_tcp() {
        let v4 = "   3: 0100007F:4975 00000000:0000 0A 00000000:00000000 00:00000000 00000000 \
                  65534        0 918273 1 0000000000000000 100 0 0 10 0";
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(listening_on(v4, lo, 0x4975), Some((918_273, 65534)));
        assert_eq!(listening_on(v4, lo, 0x4976), None, "another port");
        assert_eq!(
            listening_on(v4, "127.0.0.2".parse().unwrap(), 0x4975),
            None,
            "another address"
        );
        let established = v4.replace(" 0A ", " 01 ");
        assert_eq!(listening_on(&established, lo, 0x4975), None);
        let any = v4.replace("0100007F", "00000000");
        assert_eq!(listening_on(&any, lo, 0x4975), Some((918_273, 65534)));
        let v6 = "   0: 00000000000000000000000001000000:4975 00000000000000000000000000000000:0000 \
                  0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1";
        assert_eq!(
            listening_on(v6, "::1".parse().unwrap(), 0x4975),
            Some((4242, 1000))
        );
    }

    #[test]
    fn names_users_and_says_what_it_knows() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/:/bin/false\n";
        assert_eq!(user_name(passwd, 65534).as_deref(), Some("nobody"));
        assert_eq!(user_name(passwd, 7), None);
        let mut o = PortOwner {
            pid: Some(42),
            command: Some("python3".into()),
            uid: Some(65534),
            user: Some("nobody".into()),
            other_user: true,
        };
        assert_eq!(o.to_string(), "python3 (pid 42, user nobody)");
        assert!(o.impersonation_warning().is_some());
        (o.pid, o.command, o.user, o.other_user) = (None, None, None, false);
        assert_eq!(o.to_string(), "a program (uid 65534)");
        assert!(o.impersonation_warning().is_none());
    }
}
