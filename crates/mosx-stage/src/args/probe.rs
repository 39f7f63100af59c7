//! `mosx probe MODEL PROMPT...`: p(Yes) and p(No) at the answer position, to check
//! a backbone's stereotype by hand.
//!
//! The arguments are defined (and checked) here, in the kernel, so that the planner's
//! `mosx probe` and the worker parse the same ones; the command runs in the stage worker
//! (`mosx-worker probe`, which parses these same arguments), since it loads the backbone.

use std::path::PathBuf;

use mosx_config::Dtype;

use crate::prompt::Setting;

#[derive(clap::Args)]
#[command(
    about = "Print p(Yes) and p(No) of a backbone for prompts",
    after_help = "Examples:\n  mosx probe models/gemma-3-270m 'Will the user like \"Toy Story (1995)\"? Answer:'\n  mosx probe models/gemma-3-270m --template tallrec --data data/ml-100k --user 196 --target 242 --setting explicit\n  mosx probe google/flan-t5-small 'Is this a question? Answer:'   # from the Hugging Face cache\n  mosx probe models/gemma-3-270m --json 'Is Paris the capital of France? Answer:'   # full precision"
)]
pub struct ProbeArgs {
    /// A Hugging Face folder, or ORG/NAME in the Hugging Face cache.
    pub model: String,
    /// Prompts (each scored separately).
    pub prompts: Vec<String>,
    /// Render the task template NAME (templates/prompts/NAME.j2) for --user/--target instead.
    #[arg(long)]
    pub template: Option<String>,
    /// Dataset folder for --template.
    #[arg(long, requires = "template")]
    pub data: Option<PathBuf>,
    /// User id (as in the dataset) for --template.
    #[arg(long, requires = "template")]
    pub user: Option<String>,
    /// Target item id (as in the dataset) for --template.
    #[arg(long, requires = "template")]
    pub target: Option<String>,
    /// Which profile the prompt states (all three when not given).
    #[arg(long, value_enum)]
    pub setting: Option<Setting>,
    /// Directory of templates.
    #[arg(long, default_value = "templates")]
    pub templates: PathBuf,
    /// cpu, cuda or cuda:N (default: cuda when available).
    #[arg(long)]
    pub device: Option<crate::device::DeviceRequest>,
    #[arg(long, value_parser = parse_dtype, default_value = "f32")]
    pub dtype: Dtype,
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Print one JSON object (model, device, dtype, and per prompt p(Yes), p(No), both
    /// answer logits, the answer ids and the token count) at full precision instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_dtype(s: &str) -> Result<Dtype, String> {
    match s {
        "f32" => Ok(Dtype::F32),
        "bf16" => Ok(Dtype::Bf16),
        other => Err(format!("`{other}`: expected f32 or bf16")),
    }
}
