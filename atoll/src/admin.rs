//! `atoll admin ...`: the operator's commands for projects, users, role
//! assignments and the service catalog. They act on the database directly
//! through [`identity::admin`] (no server needs to run); a running server
//! sees revocations they cause within its `revocation_refresh_secs`.
//!
//! Projects, users and roles are named by name (default domain) or id.
//! Output is plain text tables; any failure returns an error, so the process
//! exits non-zero.

use anyhow::{Context, Result};
use clap::Subcommand;
use identity::admin;
use identity::Identity;

/// Administrative commands.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCmd {
    /// Manage projects.
    Project {
        #[command(subcommand)]
        cmd: ProjectCmd,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Manage role assignments.
    Role {
        #[command(subcommand)]
        cmd: RoleCmd,
    },
    /// Show the service catalog.
    Catalog {
        #[command(subcommand)]
        cmd: CatalogCmd,
    },
}

/// `atoll admin project ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ProjectCmd {
    /// Create a project in the default domain.
    Create {
        /// Project name.
        name: String,
        /// Free-text description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List projects.
    List,
    /// Delete a project, its role assignments, and tokens scoped to it.
    Delete {
        /// Project name or id.
        project: String,
    },
}

/// `atoll admin user ...`
#[derive(Debug, Clone, Subcommand)]
pub enum UserCmd {
    /// Create a user in the default domain.
    Create {
        /// User name.
        name: String,
        /// Password (also the TempAuth key).
        #[arg(long)]
        password: String,
        /// Default project (name or id); TempAuth lets the user into it even
        /// without a role there.
        #[arg(long)]
        project: Option<String>,
    },
    /// List users.
    List,
    /// Delete a user, their role assignments and their tokens.
    Delete {
        /// User name or id.
        user: String,
    },
    /// Set a user's password; their existing tokens are revoked.
    SetPassword {
        /// User name or id.
        user: String,
        /// New password.
        #[arg(long)]
        password: String,
    },
}

/// `atoll admin role ...`
#[derive(Debug, Clone, Subcommand)]
pub enum RoleCmd {
    /// Grant a role (admin, member, reader) on a project, or on the system
    /// (`--system`: system-scoped tokens, identity administration), to a
    /// user.
    Add {
        /// User name or id.
        #[arg(long)]
        user: String,
        /// Project name or id.
        #[arg(long, required_unless_present = "system", conflicts_with = "system")]
        project: Option<String>,
        /// On the system instead of a project.
        #[arg(long)]
        system: bool,
        /// Role name or id.
        role: String,
    },
    /// Remove a role assignment; the user's tokens on the project (or its
    /// system-scoped tokens) are revoked.
    Remove {
        /// User name or id.
        #[arg(long)]
        user: String,
        /// Project name or id.
        #[arg(long, required_unless_present = "system", conflicts_with = "system")]
        project: Option<String>,
        /// On the system instead of a project.
        #[arg(long)]
        system: bool,
        /// Role name or id.
        role: String,
    },
    /// Create a role (for example `swiftoperator`, which
    /// `swift.operator_roles` names by default).
    Create {
        /// Role name.
        name: String,
    },
    /// Delete a role other than admin, member and reader; its assignments
    /// go, and their holders' tokens on those projects are revoked.
    Delete {
        /// Role name or id.
        role: String,
    },
    /// List role assignments, optionally of one user and/or on one project.
    List {
        /// User name or id.
        #[arg(long)]
        user: Option<String>,
        /// Project name or id.
        #[arg(long)]
        project: Option<String>,
    },
}

/// `atoll admin catalog ...`
#[derive(Debug, Clone, Subcommand)]
pub enum CatalogCmd {
    /// Print the services and endpoints clients receive in their tokens.
    Show,
}

/// Runs one admin command against `identity` (blocking).
pub fn run(cmd: AdminCmd, identity: &Identity) -> Result<()> {
    match cmd {
        AdminCmd::Project { cmd } => project(cmd, identity),
        AdminCmd::User { cmd } => user(cmd, identity),
        AdminCmd::Role { cmd } => role(cmd, identity),
        AdminCmd::Catalog {
            cmd: CatalogCmd::Show,
        } => {
            let mut rows = Vec::new();
            for s in admin::catalog(identity) {
                for e in s.endpoints {
                    rows.push(vec![
                        s.name.clone(),
                        s.service_type.clone(),
                        e.interface.to_string(),
                        identity.config().region.clone(),
                        e.url,
                    ]);
                }
            }
            print_table(&["Name", "Type", "Interface", "Region", "URL"], &rows);
            Ok(())
        }
    }
}

fn project(cmd: ProjectCmd, id: &Identity) -> Result<()> {
    match cmd {
        ProjectCmd::Create { name, description } => {
            let p = admin::create_project(id, &name, &description)
                .with_context(|| format!("creating project {name}"))?;
            println!("Created project {} ({})", p.name, p.id);
        }
        ProjectCmd::List => {
            let rows: Vec<Vec<String>> = admin::list_projects(id)?
                .into_iter()
                .map(|p| {
                    vec![
                        p.id,
                        p.name,
                        p.domain_id,
                        p.enabled.to_string(),
                        p.description,
                    ]
                })
                .collect();
            print_table(&["ID", "Name", "Domain", "Enabled", "Description"], &rows);
        }
        ProjectCmd::Delete { project } => {
            let p = admin::delete_project(id, &project)
                .with_context(|| format!("deleting project {project}"))?;
            println!("Deleted project {} ({})", p.name, p.id);
        }
    }
    Ok(())
}

fn user(cmd: UserCmd, id: &Identity) -> Result<()> {
    match cmd {
        UserCmd::Create {
            name,
            password,
            project,
        } => {
            let u = admin::create_user(id, &name, &password, project.as_deref())
                .with_context(|| format!("creating user {name}"))?;
            println!("Created user {} ({})", u.name, u.id);
        }
        UserCmd::List => {
            let projects = admin::list_projects(id)?;
            let project_name = |pid: &Option<String>| {
                pid.as_ref()
                    .map(|pid| {
                        projects
                            .iter()
                            .find(|p| &p.id == pid)
                            .map(|p| p.name.clone())
                            .unwrap_or_else(|| pid.clone())
                    })
                    .unwrap_or_default()
            };
            let rows: Vec<Vec<String>> = admin::list_users(id)?
                .into_iter()
                .map(|u| {
                    let dp = project_name(&u.default_project_id);
                    vec![u.id, u.name, u.domain_id, u.enabled.to_string(), dp]
                })
                .collect();
            print_table(
                &["ID", "Name", "Domain", "Enabled", "Default Project"],
                &rows,
            );
        }
        UserCmd::Delete { user } => {
            let u =
                admin::delete_user(id, &user).with_context(|| format!("deleting user {user}"))?;
            println!("Deleted user {} ({})", u.name, u.id);
        }
        UserCmd::SetPassword { user, password } => {
            let u = admin::set_password(id, &user, &password)
                .with_context(|| format!("setting the password of {user}"))?;
            println!("Password of {} changed; their tokens are revoked", u.name);
        }
    }
    Ok(())
}

fn role(cmd: RoleCmd, id: &Identity) -> Result<()> {
    match cmd {
        RoleCmd::Add {
            user,
            project: None,
            role,
            ..
        } => {
            let a = admin::add_system_role(id, &user, &role)
                .with_context(|| format!("granting {role} on the system to {user}"))?;
            println!(
                "Granted {} on the system to user {}",
                a.role.name, a.user.name
            );
        }
        RoleCmd::Remove {
            user,
            project: None,
            role,
            ..
        } => {
            let a = admin::remove_system_role(id, &user, &role)
                .with_context(|| format!("removing {role} on the system from {user}"))?;
            println!(
                "Removed {} on the system from user {}",
                a.role.name, a.user.name
            );
        }
        RoleCmd::Add {
            user,
            project: Some(project),
            role,
            ..
        } => {
            let a = admin::add_role(id, &user, &project, &role)
                .with_context(|| format!("granting {role} on {project} to {user}"))?;
            println!(
                "Granted {} on project {} to user {}",
                a.role.name, a.project.name, a.user.name
            );
        }
        RoleCmd::Remove {
            user,
            project: Some(project),
            role,
            ..
        } => {
            let a = admin::remove_role(id, &user, &project, &role)
                .with_context(|| format!("removing {role} on {project} from {user}"))?;
            println!(
                "Removed {} on project {} from user {}",
                a.role.name, a.project.name, a.user.name
            );
        }
        RoleCmd::Create { name } => {
            let r =
                admin::create_role(id, &name).with_context(|| format!("creating role {name}"))?;
            println!("Created role {} ({})", r.name, r.id);
        }
        RoleCmd::Delete { role } => {
            let r =
                admin::delete_role(id, &role).with_context(|| format!("deleting role {role}"))?;
            println!("Deleted role {} ({})", r.name, r.id);
        }
        RoleCmd::List { user, project } => {
            let mut rows: Vec<Vec<String>> =
                admin::list_role_assignments(id, user.as_deref(), project.as_deref())
                    .context("listing role assignments")?
                    .into_iter()
                    .map(|a| vec![a.role.name, a.user.name, a.project.name, String::new()])
                    .collect();
            if project.is_none() {
                let system = admin::list_system_role_assignments(id, user.as_deref())
                    .context("listing system role assignments")?;
                rows.extend(
                    system
                        .into_iter()
                        .map(|a| vec![a.role.name, a.user.name, String::new(), "all".into()]),
                );
            }
            print_table(&["Role", "User", "Project", "System"], &rows);
        }
    }
    Ok(())
}

/// Prints rows under a header, columns padded to their widest cell.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
