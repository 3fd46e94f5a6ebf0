//! `switchyard admin …`: platform administrators.

use std::io::BufRead;

use clap::Subcommand;

use super::accounts;
use crate::storage::Db;

/// `switchyard admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make a user a platform administrator (created when absent; the password is prompted
    /// for, or read from standard input with --password-stdin).
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    } else {
        rpassword::prompt_password("Password for the new administrator: ")?
    };
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

/// Runs an admin command on a migrated database.
pub async fn run(db: &Db, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Create {
            email,
            password_stdin,
            json,
        } => {
            let exists = crate::storage::users::find_by_email(
                db,
                &crate::control_plane::tenants::normalize_email(&email)?,
            )
            .await?
            .is_some();
            let password = if exists {
                String::new()
            } else {
                read_password(password_stdin)?
            };
            let (user_id, created) = accounts::create_platform_admin(db, &email, password).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "user_id": user_id, "email": email.trim().to_lowercase(), "created": created })
                );
            } else if created {
                println!("created platform administrator {email} ({user_id})");
            } else {
                println!("{email} ({user_id}) is now a platform administrator");
            }
            Ok(())
        }
    }
}
