//! Argument value parsers shared by every command, so a flag's value is
//! checked, and its error worded, the same way everywhere.

/// A positive, finite number (`1e21`, `0.5`).
pub fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a positive finite number, got {v}")),
        Err(_) => Err(format!("`{s}` is not a number (write e.g. 1e21)")),
    }
}

/// A whole number of at least 1.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(v) => Ok(v),
        Err(_) => Err(format!("`{s}` is not a whole number (write e.g. 4)")),
    }
}

/// A whole number of at least 1 that fits 32 bits (Slurm counts).
pub fn at_least_one_u32(s: &str) -> Result<u32, String> {
    let v = at_least_one(s)?;
    u32::try_from(v).map_err(|_| format!("{v} is too large (at most {})", u32::MAX))
}

/// A model as `PARAMS:TOKENS` (`7e10:1.4e12`), both positive.
pub fn n_and_d(s: &str) -> Result<(f64, f64), String> {
    let (n, d) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not PARAMS:TOKENS (write e.g. 7e10:1.4e12)"))?;
    Ok((
        positive(n).map_err(|e| format!("parameters {e}"))?,
        positive(d).map_err(|e| format!("tokens {e}"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_numbers_and_their_errors() {
        assert_eq!(positive(" 1e21 "), Ok(1e21));
        assert!(positive("0").unwrap_err().contains("positive"));
        assert!(positive("-1").unwrap_err().contains("positive"));
        assert!(positive("inf").unwrap_err().contains("finite"));
        assert!(positive("abc").unwrap_err().contains("not a number"));
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").is_err());
        assert!(at_least_one("x").is_err());
    }
}
