//! `wasmvisor plugin build [DIR]`: compile a plugin project into its
//! component with the language's own tool (cargo, componentize-py, the
//! project's npm script), embed plugin.toml, print the component's path.

use std::path::{Path, PathBuf};

use wasmvisor_build::project::{self, Toolchains};

/// Arguments of `plugin build`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project directory (holding plugin.toml).
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let built = project::build(&args.dir, &toolchains())?;
    println!("{}", built.component.display());
    Ok(())
}

/// Tools from the environment, then from the checkout this binary was built
/// from (its `.venv`, installed by `.ci/toolchains`); nothing is installed.
fn toolchains() -> Toolchains {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Toolchains {
        cargo: std::env::var_os("CARGO").map(PathBuf::from),
        rustc: std::env::var_os("RUSTC").map(PathBuf::from),
        python_venvs: vec![checkout.join(".venv")],
    }
}
